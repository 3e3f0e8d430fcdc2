/**
 * `lifetimeMs`, `network` and `ports` on the Kubernetes backend: the pod of a
 * sandbox with a lifetime carries activeDeadlineSeconds and the expires-at
 * label, its ports are container ports (valid against the Kubernetes OpenAPI
 * schema) reached through port-forwards of their own, the networks the
 * backend does not support are refused naming the option, and `agentix gc` removes an
 * expired sandbox although its owner still runs (through the stand-in API
 * server, test/support/stand-in/). Nothing of this file remains afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { checkK8sConfig, sandboxObjects, type PodInputs } from '../../deploy/kubernetes.js';
import { runtimeEnv } from '../../deploy/shared/runtime-env.js';
import { sandboxToken } from '../../deploy/shared/token.js';
import type { SandboxConfig } from '../../deploy/types.js';
import { AgentixError } from '../../runtime/wire/errors.js';
import { runGc } from '../support/crash.js';
import { removeBundle, taskImage } from '../support/docker.js';
import { openApiError, unknownFields } from '../support/kube-schema.js';
import { clusterLeftovers, k8sDeployment, standInOrSkip, type StandIn } from '../support/kubernetes.js';
import { alive, eventually, repoRoot } from '../support/serve.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { assertLongLifetimeKept } from '../support/sandbox-client.js';

const RUN = `agentix-test-k8s-opts-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const labels = { [RUN_LABEL]: RUN };
const BUNDLE = `${RUN}:1`;
const k = await standInOrSkip('kubernetes lifetime', labels);

function inputs(config: SandboxConfig): PodInputs {
  return {
    name: 'agentix-0123456789',
    namespace: 'rollouts',
    config,
    inject: 'copy',
    env: runtimeEnv(config),
    tokenEnv: sandboxToken().env,
    labels: { 'agentix.sandbox': '1', 'agentix.expires-at': String(Date.now() + (config.lifetimeMs ?? 0)) },
    annotations: {},
    imagePullSecrets: [],
  };
}

const objects = suite('kubernetes: lifetimeMs, network and ports in the objects');

objects('a lifetime: activeDeadlineSeconds (rounded up), AGENTIX_LIFETIME_MS for the runtime, valid against the schema', () => {
  const { pod } = sandboxObjects(inputs({ image: 'busybox:1', bundle: 'b:1', lifetimeMs: 90_500 }));
  assert.is(openApiError(pod), undefined, String(openApiError(pod)));
  assert.equal(unknownFields(pod, 'V1Pod'), []);
  const spec = (pod as { spec: { activeDeadlineSeconds?: number; containers: { env: { name: string; value: string }[] }[] } }).spec;
  assert.is(spec.activeDeadlineSeconds, 91);
  assert.ok(spec.containers[0]!.env.some((e) => e.name === 'AGENTIX_LIFETIME_MS' && e.value === '90500'));
  const without = sandboxObjects(inputs({ image: 'busybox:1', bundle: 'b:1' })).pod as { spec: Record<string, unknown> };
  assert.not.ok('activeDeadlineSeconds' in without.spec, 'no lifetime, no deadline');
});

objects('ports: each a container port of the sandbox container beside the runtime\'s, valid against the schema', () => {
  const { pod } = sandboxObjects(inputs({ image: 'busybox:1', bundle: 'b:1', ports: [3000, 5173] }));
  assert.is(openApiError(pod), undefined, String(openApiError(pod)));
  const c = (pod as { spec: { containers: { ports: { name: string; containerPort: number }[] }[] } }).spec.containers[0]!;
  assert.equal(c.ports.map((p) => p.containerPort), [8000, 3000, 5173]);
  assert.is(new Set(c.ports.map((p) => p.name)).size, 3, 'port names are unique');
});

objects('network "none" / "host" are refused on Kubernetes, naming the option', () => {
  const refused = (config: Partial<SandboxConfig>, re: RegExp) => {
    const err = (() => {
      try {
        checkK8sConfig({ image: 'i', bundle: 'b', ...config });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.instance(err, AgentixError, `${JSON.stringify(config)} was accepted`);
    assert.match(err!.message, re);
  };
  refused({ network: 'none' }, /`network: "none"` is not supported on Kubernetes/);
  refused({ network: 'host' }, /`network: "host"` is not supported on Kubernetes/);
  checkK8sConfig({ image: 'i', bundle: 'b', network: 'default', ports: [3000] });
});

// ---------------------------------------------------------------- gc, through the stand-in
const ctx = {} as { temp: string; imageId: string; busybox: string; standIn: StandIn };
const gc = suite('kubernetes through the stand-in API server: agentix gc and lifetimeMs');
gc.before(async () => {
  ctx.standIn = k!.standIn;
  // the fixture with serveHttp (an HTTP server inside the sandbox) for the ports test
  ctx.temp = mkdtempSync(join(tmpdir(), 'agentix-k8s-opts-'));
  const project = join(ctx.temp, 'p');
  cpSync(join(repoRoot, 'test/deploy/sandbox-fixture'), project, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
  const [built, busybox] = await Promise.all([buildBundle({ projectDir: project, tag: BUNDLE }), taskImage(k!.docker, 'busybox')]);
  Object.assign(ctx, { imageId: built.imageId, busybox });
});

/** A host process that creates a sandbox and then hangs (event loop blocked: its own timer never fires), alive. */
async function hungHost(lifetimeMs: number): Promise<{ child: ChildProcess; id: string }> {
  const script = `
    import { KubernetesDeployment } from ${JSON.stringify(fileURLToPath(new URL('../../deploy/kubernetes.ts', import.meta.url)))};
    const s = await new KubernetesDeployment().create(${JSON.stringify({ image: ctx.busybox, bundle: BUNDLE, labels, lifetimeMs })});
    process.stdout.write(s.id + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KUBECONFIG: ctx.standIn.kubeconfig } });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b));
  const printed = await eventually(() => /^agentix-[0-9a-f]{10}\n/.test(out) || child.exitCode !== null, 90_000, 50);
  if (!printed || child.exitCode !== null) {
    child.kill('SIGKILL');
    throw new Error(`the host printed no sandbox id: ${JSON.stringify(out)}`);
  }
  return { child, id: out.trim() };
}

gc('stand-in API server: gc removes a sandbox past its lifetime although its owner lives, keeps one within it', async () => {
  const { child, id } = await hungHost(2000);
  const d = k8sDeployment(ctx.standIn);
  const keeper = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, lifetimeMs: 600_000 });
  try {
    const pod = ctx.standIn.store.get('pods', ctx.standIn.namespace, id) as { metadata: { labels: Record<string, string> } } | undefined;
    const at = Number(pod?.metadata.labels['agentix.expires-at']);
    assert.ok(at > 0, 'the pod carries agentix.expires-at');
    assert.ok(await eventually(() => Date.now() > at, 10_000, 100));
    assert.ok(alive(child.pid!), 'its owner still runs');
    const { code, out } = await runGc(['--kubernetes'], { KUBECONFIG: ctx.standIn.kubeconfig });
    assert.is(code, 0);
    assert.ok(out.includes(`removed sandbox ${id}`), out);
    assert.ok(ctx.standIn.store.get('pods', ctx.standIn.namespace, keeper.id), 'the sandbox within its lifetime stays');
  } finally {
    child.kill('SIGKILL');
    await d.delete(keeper.id);
  }
});

gc('stand-in API server: a server started inside the pod is reachable from the host at sandbox.ports[p], through a port-forward of its own', async () => {
  const d = k8sDeployment(ctx.standIn);
  const sandbox = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, ports: [3000, 5173] });
  try {
    assert.equal(Object.keys(sandbox.ports), ['3000', '5173']);
    for (const p of [3000, 5173]) assert.match(sandbox.ports[p]!, /^http:\/\/127\.0\.0\.1:\d+$/);
    const c = await RuntimeClient.connect(sandbox);
    try {
      await c.call('serveHttp', [3000, 'from the pod']);
      await c.call('serveHttp', [5173, 'second']);
    } finally {
      await c.close();
    }
    assert.is(await (await fetch(sandbox.ports[3000]!)).text(), 'from the pod');
    assert.is(await (await fetch(sandbox.ports[5173]!)).text(), 'second');
  } finally {
    await d.delete(sandbox.id);
  }
  const refused = await fetch(sandbox.ports[3000]!).then(() => 'answered', () => 'refused');
  assert.is(refused, 'refused', 'the port-forward closes with the sandbox');
});

gc('stand-in API server: a lifetime longer than one timer can hold does not delete the sandbox at once', () =>
  assertLongLifetimeKept(k8sDeployment(ctx.standIn), { image: ctx.busybox, bundle: BUNDLE, labels }));

async function cleanup(): Promise<void> {
  await ctx.standIn?.close();
  if (ctx.imageId) await removeBundle(k!.docker, ctx.imageId);
  for (const c of await k!.docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${RUN}`] } })) await k!.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  if (ctx.temp) rmSync(ctx.temp, { recursive: true, force: true });
}

gc('stand-in API server: finally, nothing of this file remains', async () => {
  for (let i = 0; i < 100 && clusterLeftovers(ctx.standIn).length; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(clusterLeftovers(ctx.standIn), []);
  await cleanup();
});
gc.after(async () => {
  await cleanup().catch(() => undefined);
});

objects.run();
if (k) gc.run();
