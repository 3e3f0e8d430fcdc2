/**
 * What the Kubernetes backend sends, checked without a cluster: every Pod and
 * Secret it builds, in both inject modes and with every SandboxConfig field
 * set, against the official Kubernetes OpenAPI schema (test/support/kube-schema.ts);
 * the shape of each inject mode; and the configuration checks that fail fast
 * (environment, no cluster, configs only Kubernetes refuses).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ENTRYPOINT, NODE_PATH } from '../../bundle/layout.js';
import { checkK8sConfig, defaultInject, KubernetesDeployment, RateLimiter, sandboxObjects, settingsFromEnv, type PodInputs } from '../../deploy/kubernetes.js';
import { runtimeEnv } from '../../deploy/shared/runtime-env.js';
import { sandboxToken } from '../../deploy/shared/token.js';
import type { SandboxConfig } from '../../deploy/types.js';
import { rejects } from '../support/assert.js';
import { runGc } from '../support/crash.js';
import { withEnv, withEnvAsync } from '../support/env.js';
import { readiness } from '../../deploy/kubernetes/pod-status.js';
import { openApiError, unknownFields } from '../support/kube-schema.js';

const full: SandboxConfig = {
  image: 'registry.example/task:1',
  bundle: 'registry.example/bundle@sha256:' + 'a'.repeat(64),
  platform: 'linux/amd64',
  env: { GREETING: 'hi' },
  workdir: '/workspace',
  user: '1000:1000',
  cpus: 1.5,
  memoryBytes: 512 * 1024 * 1024,
  startupTimeoutMs: 60_000,
  labels: { team: 'rl', 'example.com/run': 'r-17' },
};

function inputs(config: SandboxConfig, inject: 'image' | 'copy'): PodInputs {
  const token = sandboxToken();
  return {
    name: 'agentix-0123456789',
    namespace: 'rollouts',
    config,
    inject,
    env: runtimeEnv(config),
    tokenEnv: token.env,
    labels: { ...config.labels, 'agentix.sandbox': '1', 'agentix.owner-host': 'host-1', 'agentix.owner-pid': '42', 'agentix.create-id': 'agentix-0123456789' },
    annotations: { 'agentix.bundle': config.bundle, 'agentix.image': config.image },
    runtimeClass: 'gvisor',
    imagePullSecrets: ['regcred'],
  };
}

for (const inject of ['image', 'copy'] as const)
  for (const [what, config] of [
    ['every SandboxConfig field', full],
    ['the bare minimum', { image: 'busybox:1', bundle: 'b:1' }],
  ] as const) {
    test(`inject=${inject}, ${what}: the Pod and the Secret are valid against the Kubernetes OpenAPI schema, with no field it lacks`, () => {
      const { pod, secret } = sandboxObjects(inputs(config, inject));
      for (const [obj, type] of [
        [pod, 'V1Pod'],
        [secret, 'V1Secret'],
      ] as const) {
        assert.is(openApiError(obj), undefined, `${type}: ${openApiError(obj)}`);
        assert.equal(unknownFields(obj, type), [], `${type} has fields the schema does not define`);
      }
    });
  }

test('the schema checks catch what they must (a wrong type, an unknown field)', () => {
  const { pod } = sandboxObjects(inputs(full, 'image'));
  const spec = (pod as { spec: { containers: Record<string, unknown>[] } }).spec;
  spec.containers[0]!.imagePullPolicy = 7;
  assert.match(openApiError(pod) ?? '', /imagePullPolicy must be string/);
  spec.containers[0]!.imagePullPolicy = 'IfNotPresent';
  spec.containers[0]!.mountVolumes = [];
  assert.equal(unknownFields(pod, 'V1Pod'), ['/spec/containers/0/mountVolumes: not a field of V1Container']);
});

test('inject=image: the bundle is an image volume mounted read-only at /nix (subPath nix); no init container', () => {
  const spec = (sandboxObjects(inputs(full, 'image')).pod as { spec: Record<string, any> }).spec; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(spec.volumes, [{ name: 'agentix-nix', image: { reference: full.bundle, pullPolicy: 'IfNotPresent' } }]);
  assert.equal(spec.containers[0].volumeMounts, [{ name: 'agentix-nix', mountPath: '/nix', readOnly: true, subPath: 'nix' }]);
  assert.is(spec.initContainers, undefined);
});

test('inject=copy: an init container from the bundle copies /nix into an emptyDir with the bundled node', () => {
  const spec = (sandboxObjects(inputs(full, 'copy')).pod as { spec: Record<string, any> }).spec; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(spec.volumes, [{ name: 'agentix-nix', emptyDir: {} }]);
  assert.is(spec.initContainers.length, 1);
  const init = spec.initContainers[0];
  assert.is(init.image, full.bundle);
  assert.is(init.command[0], NODE_PATH);
  assert.match(init.command[2], /cpSync\("\/nix", "\/agentix-nix"/);
  assert.equal(init.volumeMounts, [{ name: 'agentix-nix', mountPath: '/agentix-nix' }]);
  assert.equal(spec.containers[0].volumeMounts, [{ name: 'agentix-nix', mountPath: '/nix', readOnly: true }]);
});

test('the pod: the task image runs the bundle ENTRYPOINT; no cluster credentials; limits = requests; token only in the Secret', () => {
  const { pod, secret } = sandboxObjects(inputs(full, 'image'));
  const spec = (pod as { spec: Record<string, any> }).spec; // eslint-disable-line @typescript-eslint/no-explicit-any
  const c = spec.containers[0];
  assert.is(c.image, full.image);
  assert.equal(c.command, [...ENTRYPOINT]);
  assert.is(spec.restartPolicy, 'Never');
  assert.is(spec.automountServiceAccountToken, false);
  assert.is(spec.enableServiceLinks, false);
  assert.is(spec.runtimeClassName, 'gvisor');
  assert.equal(spec.imagePullSecrets, [{ name: 'regcred' }]);
  assert.equal(spec.nodeSelector, { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' });
  assert.equal(c.resources, { limits: { cpu: '1500m', memory: String(512 * 1024 * 1024) }, requests: { cpu: '1500m', memory: String(512 * 1024 * 1024) } });
  assert.equal(c.securityContext, { runAsUser: 1000, runAsGroup: 1000 });
  assert.is(c.workingDir, '/workspace');
  assert.equal(c.readinessProbe.httpGet, { path: '/health', port: 8000 });
  assert.not.ok(JSON.stringify(pod).includes('AGENTIX_TOKEN'), 'the token is not in the pod spec');
  assert.equal(c.envFrom, [{ secretRef: { name: 'agentix-0123456789' } }]);
  assert.equal(Object.keys((secret as { data: object }).data), ['AGENTIX_TOKEN']);
  assert.is((secret as { immutable: boolean }).immutable, true);
});

test('configs only Kubernetes refuses are refused before anything is sent, naming the field', () => {
  assert.throws(() => checkK8sConfig({ image: 'i', bundle: 'b', user: 'nobody' }), /`user` must be numeric \(uid or uid:gid\) on Kubernetes, got "nobody"/);
  assert.throws(() => checkK8sConfig({ image: 'i', bundle: 'b', workdir: 'tmp' }), /`workdir` must be an absolute path/);
  assert.throws(() => checkK8sConfig({ image: 'i', bundle: 'b', labels: { run: 'has spaces' } }), /label run="has spaces": the value is not a valid Kubernetes label value/);
  assert.throws(() => checkK8sConfig({ image: 'i', bundle: 'b', labels: { 'Bad/Key/x': '1' } }), /label key "Bad\/Key\/x" is not a valid Kubernetes label key/);
});

test('the environment: each AGENTIX_K8S_* variable is read, a bad value fails naming the variable', () => {
  const s = settingsFromEnv({ AGENTIX_K8S_NAMESPACE: 'rl', AGENTIX_K8S_INJECT: 'copy', AGENTIX_K8S_CONNECT: 'pod-ip', AGENTIX_K8S_RUNTIME_CLASS: 'kata', AGENTIX_K8S_IMAGE_PULL_SECRETS: 'a, b', AGENTIX_K8S_QPS: '50' });
  assert.equal(s, { namespace: 'rl', inject: 'copy', connect: 'pod-ip', runtimeClass: 'kata', imagePullSecrets: ['a', 'b'], qps: 50, burst: 10 });
  assert.equal(settingsFromEnv({}), { namespace: undefined, inject: undefined, connect: undefined, runtimeClass: undefined, imagePullSecrets: [], qps: 5, burst: 10 });
  assert.throws(() => settingsFromEnv({ AGENTIX_K8S_INJECT: 'volume' }), /AGENTIX_K8S_INJECT must be "image" or "copy", got "volume"/);
  assert.throws(() => settingsFromEnv({ AGENTIX_K8S_CONNECT: 'direct' }), /AGENTIX_K8S_CONNECT must be "port-forward" or "pod-ip"/);
  assert.throws(() => settingsFromEnv({ AGENTIX_K8S_QPS: '0' }), /AGENTIX_K8S_QPS must be a positive number, got "0"/);
  assert.throws(() => settingsFromEnv({ AGENTIX_K8S_NAMESPACE: 'Not_A_Name' }), /AGENTIX_K8S_NAMESPACE: "Not_A_Name" is not a valid Kubernetes name/);
});

test('the default inject mode follows the server version: image from 1.35, copy before', () => {
  assert.is(defaultInject({ major: '1', minor: '35' }), 'image');
  assert.is(defaultInject({ major: '1', minor: '36+' }), 'image');
  assert.is(defaultInject({ major: '1', minor: '34' }), 'copy');
  assert.is(defaultInject({ major: '1', minor: '29' }), 'copy');
  assert.is(defaultInject({ major: '', minor: '' }), 'copy');
});

test('no cluster configured: the constructor fails at once, naming every place it looked', () => {
  const home = mkdtempSync(join(tmpdir(), 'agentix-nokube-'));
  try {
    withEnv({ KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined, HOME: home }, () => {
      assert.throws(() => new KubernetesDeployment(), /no Kubernetes cluster configured: KUBECONFIG is not set, this is not a pod \(KUBERNETES_SERVICE_HOST is not set\), and .*\.kube\/config does not exist/);
    });
    withEnv({ KUBECONFIG: join(home, 'missing.yaml') }, () => assert.throws(() => new KubernetesDeployment(), /KUBECONFIG=.*missing\.yaml: .*missing\.yaml does not exist/));
    const empty = join(home, 'empty.yaml');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    withEnv({ KUBECONFIG: empty }, () => assert.throws(() => new KubernetesDeployment(), /has no current context/));
    withEnv({ KUBECONFIG: empty, AGENTIX_K8S_QPS: 'fast' }, () => assert.throws(() => new KubernetesDeployment(), /AGENTIX_K8S_QPS must be a positive number/));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('docs/kubernetes-rbac.yaml: every object in it is valid against the Kubernetes OpenAPI schema', () => {
  const docs = loadAll(readFileSync(fileURLToPath(new URL('../../docs/kubernetes-rbac.yaml', import.meta.url)), 'utf8')) as { kind: string }[];
  assert.equal(docs.map((d) => d.kind), ['Role', 'ServiceAccount', 'RoleBinding']);
  for (const d of docs) assert.is(openApiError(d), undefined, `${d.kind}: ${openApiError(d)}`);
});

test('what a pod that is not ready is doing, in words; what fails at once', () => {
  const pod = (status: Record<string, unknown>, init = false) => ({
    spec: { containers: [{ name: 'sandbox', image: 'task:1' }], ...(init ? { initContainers: [{ name: 'agentix-bundle', image: 'bundle:1' }] } : {}) },
    status,
  });
  const unschedulable = readiness(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }] }));
  assert.equal(unschedulable, { ready: false, doing: 'Pending, not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.' });
  const pulling = readiness(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }], containerStatuses: [{ name: 'sandbox', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "task:1"' } } }] }));
  assert.equal(pulling, { ready: false, doing: 'Pending, image pull failed for the task container (task:1): ImagePullBackOff: Back-off pulling image "task:1"' });
  const initFailed = readiness(
    pod({ phase: 'Failed', initContainerStatuses: [{ name: 'agentix-bundle', state: { terminated: { exitCode: 1, reason: 'Error', message: 'ENOSPC: no space left on device' } } }] }, true),
  );
  assert.is((initFailed as { failed: string }).failed, 'the pod ended (phase Failed): the init container that copies the bundle exited with code 1 (Error): ENOSPC: no space left on device');
  const copying = readiness(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }], initContainerStatuses: [{ name: 'agentix-bundle', state: { running: {} } }] }, true));
  assert.equal(copying, { ready: false, doing: 'Pending, the init container is copying the bundle into the pod' });
  const badName = readiness(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }], containerStatuses: [{ name: 'sandbox', state: { waiting: { reason: 'InvalidImageName', message: 'Failed to apply default image tag' } } }] }));
  assert.match((badName as { failed?: string }).failed ?? '', /task container is waiting: InvalidImageName/);
  assert.equal(readiness(pod({ phase: 'Running', podIP: '10.0.0.7', conditions: [{ type: 'Ready', status: 'True' }] })), { ready: true, podIP: '10.0.0.7' });
});

test('agentix gc: --kubernetes without a cluster says where it looked; neither backend reachable is one clear error', async () => {
  const home = mkdtempSync(join(tmpdir(), 'agentix-nokube-'));
  const env = { KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined, HOME: home, DOCKER_HOST: 'unix:///nonexistent/agentix-test.sock' };
  try {
    await rejects(withEnvAsync(env, () => runGc(['--kubernetes'])), /no Kubernetes cluster configured: KUBECONFIG is not set/);
    await rejects(withEnvAsync(env, () => runGc([])), /neither a Docker engine nor a Kubernetes cluster could be reached:\n  docker: no Docker engine[\s\S]*kubernetes: no Kubernetes cluster configured/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('the rate limiter: the burst goes at once, the next request waits; an aborted waiter leaves the queue', async () => {
  const limiter = new RateLimiter(1, 3);
  let granted = 0;
  for (let i = 0; i < 3; i++) void limiter.take().then(() => granted++);
  const ac = new AbortController();
  const fourth = limiter.take(ac.signal).then(() => 'granted', () => 'aborted');
  await new Promise((r) => setImmediate(r));
  assert.is(granted, 3, 'burst 3: three at once');
  ac.abort();
  assert.is(await fourth, 'aborted');
});

test.run();
