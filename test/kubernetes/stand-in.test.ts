/**
 * The Kubernetes backend end to end against the stand-in API server
 * (test/support/stand-in/): the backend reads an ordinary kubeconfig that
 * points at 127.0.0.1 and does not know it is a stand-in; the stand-in runs
 * every pod on the real local Docker engine. The same flows as the Docker
 * tests (unary, stream, bidi, the bundled tools) in a busybox and an empty
 * task image, with both inject modes and both connect modes, sixteen at once,
 * the failures (an image that does not pull, a runtime that exits), and gc.
 * Nothing of this file remains afterwards: checked by label at the end.
 *
 * No engine: skipped with the reason printed (CI=true: fails).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { loadAll } from 'js-yaml';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { loadDeployment } from '../../deploy/load.js';
import { session } from '../../deploy/session.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { rejects } from '../support/assert.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';
import { runGc, sandboxOfCrashedHost } from '../support/crash.js';
import { removeBundle, taskImage } from '../support/docker.js';
import { withEnv } from '../support/env.js';
import { clusterLeftovers, engineLeftovers, k8sDeployment, standInOrSkip, type StandIn } from '../support/kubernetes.js';
import { startStandIn } from '../support/stand-in/server.js';

const RUN = `agentix-test-k8s-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const runLabels = { [RUN_LABEL]: RUN };
const BUNDLE = `${RUN}:1`;
const k = await standInOrSkip('kubernetes stand-in', runLabels);

interface Ctx {
  fixture: FixtureCopy;
  imageId: string;
  busybox: string;
  empty: string;
  standIn: StandIn;
}
const ctx = {} as Ctx;

async function setup(): Promise<void> {
  ctx.standIn = k!.standIn;
  ctx.fixture = copyHelloFixture();
  // the fixture plus a bidi function (an echo of its inbox), compiled by `agentix gen`
  appendFileSync(
    join(ctx.fixture.dir, 'src', 'index.ts'),
    `\nexport async function* shout(inbox: import('agentix').Channel<string>, suffix: string): AsyncGenerator<string> {\n  for await (const line of inbox) yield line.toUpperCase() + suffix;\n}\n`,
  );
  // sed as well: an image ID of its own, so the Docker tests' carriers are never this file's
  const [built, busybox, empty] = await Promise.all([
    buildBundle({ projectDir: ctx.fixture.dir, tag: BUNDLE, tools: ['bash', 'coreutils', 'sed'] }),
    taskImage(k!.docker, 'busybox'),
    taskImage(k!.docker, 'empty'),
  ]);
  Object.assign(ctx, { imageId: built.imageId, busybox, empty });
}

/** Every call shape and the bundle's own node and bash, through one sandbox. */
async function exercise(sandbox: { runtimeUrl: string; token: string }, who: string): Promise<void> {
  const client = await RuntimeClient.connect(sandbox);
  try {
    assert.is(await client.call('hello', [who]), `hello ${who}`);
    const items: number[] = [];
    for await (const n of client.stream<number>('count', [3])) items.push(n);
    assert.equal(items, [0, 1, 2]);
    const chat = client.bidi<string, string>('shout', ['!']);
    chat.send('one');
    chat.send('two');
    chat.close();
    const echoed: string[] = [];
    for await (const line of chat) echoed.push(line);
    assert.equal(echoed, ['ONE!', 'TWO!']);
    const where = await client.call<{ execPath: string; imageLibc: boolean }>('where', []);
    assert.is(where.execPath, '/nix/runtime/bin/node');
    assert.is(where.imageLibc, false, 'neither task image has a libc: node runs on the bundled one');
    assert.is(await client.call('sh', ['echo "$((6 * 7)) $(basename "$BASH")"']), '42 bash\n');
  } finally {
    await client.close();
  }
}

const labels = { [RUN_LABEL]: RUN };

// ---------------------------------------------------------------- serving
const serving = suite('kubernetes through the stand-in API server: the bundle serves calls in any task image');
serving.before(setup);

for (const inject of ['image', 'copy'] as const)
  for (const kind of ['busybox', 'empty'] as const) {
    serving(`stand-in API server, inject=${inject}, ${kind} image: unary, stream, bidi, the bundled node and bash`, async () => {
      const Kubernetes = await loadDeployment('kubernetes');
      const deployment = withEnv({ KUBECONFIG: ctx.standIn.kubeconfig, AGENTIX_K8S_INJECT: inject }, () => new Kubernetes());
      await session(deployment, { image: ctx[kind], bundle: BUNDLE, labels, env: { GREETING: 'hi' } }, async (sandbox) => {
        assert.match(sandbox.runtimeUrl, /^ws:\/\/127\.0\.0\.1:\d+$/, 'port-forward outside a cluster');
        const pod = ctx.standIn.store.get('pods', ctx.standIn.namespace, sandbox.id)!;
        assert.is(!!pod.spec.initContainers, inject === 'copy', 'an init container only in copy mode');
        assert.is(pod.spec.volumes[0].image?.reference, inject === 'image' ? BUNDLE : undefined);
        await exercise(sandbox, `${inject}-${kind}`);
        const client = await RuntimeClient.connect(sandbox);
        assert.is(await client.call('env', ['GREETING']), 'hi');
        assert.is(await client.call('env', ['AGENTIX_TOKEN']), null, 'user code does not see the token');
        await client.close();
      });
    });
  }

serving('stand-in API server: without AGENTIX_K8S_INJECT, a 1.35 server gets an image volume, a 1.30 one the copy', async () => {
  const old = await startStandIn({ docker: k!.docker, runLabels, version: { major: '1', minor: '30' } });
  try {
    assert.is(await k8sDeployment(ctx.standIn).injectMode(), 'image');
    const d = k8sDeployment(old);
    assert.is(await d.injectMode(), 'copy');
    await session(d, { image: ctx.busybox, bundle: BUNDLE, labels }, (sandbox) => exercise(sandbox, 'old server'));
    // forcing image volumes onto a server without them: its refusal, said plainly
    await rejects(k8sDeployment(old, { AGENTIX_K8S_INJECT: 'image' }).create({ image: ctx.busybox, bundle: BUNDLE, labels }), /cannot create the sandbox's Pod .*must specify a volume type/);
    assert.equal(clusterLeftovers(old), []);
  } finally {
    await old.close();
  }
});

serving('stand-in API server: get() reports running then deleted; limits, user and workdir reach the pod', async () => {
  const d = k8sDeployment(ctx.standIn);
  const sandbox = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, workdir: '/tmp', user: '65534:65534', cpus: 0.5, memoryBytes: 256 * 1024 * 1024, platform: `linux/${process.arch === 'x64' ? 'amd64' : process.arch}` });
  try {
    const info = await d.get(sandbox.id);
    assert.is(info.state, 'running');
    assert.is(info.bundle, BUNDLE);
    assert.is(info.image, ctx.busybox);
    assert.is(info.runtimeUrl, sandbox.runtimeUrl);
    const container = ctx.standIn.store.get('pods', ctx.standIn.namespace, sandbox.id)!.spec.containers[0];
    assert.equal(container.resources, { limits: { cpu: '500m', memory: String(256 * 1024 * 1024) }, requests: { cpu: '500m', memory: String(256 * 1024 * 1024) } });
    const client = await RuntimeClient.connect(sandbox);
    const where = await client.call<{ cwd: string; uid: number }>('where', []);
    assert.is(where.cwd, '/tmp');
    assert.is(where.uid, 65534);
    await client.close();
  } finally {
    await d.delete(sandbox.id);
  }
  assert.is((await d.get(sandbox.id)).state, 'deleted');
  assert.equal(clusterLeftovers(ctx.standIn), [], 'pod and secret gone when delete() returns');
  await d.delete(sandbox.id); // idempotent
});

serving('stand-in API server: AGENTIX_K8S_CONNECT=pod-ip reaches the runtime at the pod IP, without port-forward', async () => {
  const d = k8sDeployment(ctx.standIn, { AGENTIX_K8S_CONNECT: 'pod-ip' });
  await session(d, { image: ctx.empty, bundle: BUNDLE, labels }, async (sandbox) => {
    const podIP = ctx.standIn.store.get('pods', ctx.standIn.namespace, sandbox.id)!.status.podIP;
    assert.is(sandbox.runtimeUrl, `ws://${podIP}:8000`);
    await exercise(sandbox, 'pod-ip');
  });
  assert.is(d.api.counts.get('PORTFORWARD pods') ?? 0, 0);
});

serving('stand-in API server: sixteen sandboxes at once share one watch, with few API requests each, under the rate limit', async () => {
  const d = k8sDeployment(ctx.standIn, { AGENTIX_K8S_QPS: '20' });
  const watches = () => ctx.standIn.requests.get('watch pods') ?? 0;
  const before = watches();
  const sandboxes = await Promise.all(Array.from({ length: 16 }, (_, i) => d.create({ image: i % 2 ? ctx.busybox : ctx.empty, bundle: BUNDLE, labels })));
  try {
    assert.is(watches() - before, 1, 'one watch for the whole wave of creates');
    assert.is(d.api.counts.get('GET pods') ?? 0, 1, 'one list for the whole wave');
    const results = await Promise.all(
      sandboxes.map(async (sandbox, i) => {
        const client = await RuntimeClient.connect(sandbox);
        try {
          return await client.call<string>('hello', [`n${i}`]);
        } finally {
          await client.close();
        }
      }),
    );
    assert.equal(results, Array.from({ length: 16 }, (_, i) => `hello n${i}`));
  } finally {
    await Promise.all(sandboxes.map((s) => d.delete(s.id)));
  }
  assert.ok(watches() - before <= 2, 'the wave of deletes shares one watch too');
  // per sandbox: secret + pod create, one /health and one client connection through port-forward, pod + secret delete
  const shared = 1 + (d.api.counts.get('GET pods') ?? 0) + (d.api.counts.get('WATCH pods') ?? 0); // version, lists, watches
  const perSandbox = (d.api.total - shared) / 16;
  assert.ok(perSandbox <= 6, `${perSandbox} API requests per sandbox: ${JSON.stringify([...d.api.counts])}`);
  assert.ok(d.api.limiter.waitedMs > 0, 'the wave went over the burst, so the rate limit held requests back');
  assert.equal(clusterLeftovers(ctx.standIn), []);
});

serving('stand-in API server: a wave queued behind a tight rate limit still starts: the wait for the limit does not count against startupTimeoutMs', async () => {
  const d = k8sDeployment(ctx.standIn, { AGENTIX_K8S_QPS: '2', AGENTIX_K8S_BURST: '2' });
  const startupTimeoutMs = 6_000;
  let longest = 0;
  const sandboxes = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const t0 = Date.now();
      const s = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, startupTimeoutMs });
      longest = Math.max(longest, Date.now() - t0);
      return s;
    }),
  );
  try {
    // the premise, not a speed check: some create() spent longer than its startup time, most of it in the limiter's queue
    assert.ok(longest > startupTimeoutMs, `the longest create() took ${longest} ms, not longer than the startup time: the wave did not queue`);
  } finally {
    await Promise.all(sandboxes.map((s) => d.delete(s.id)));
  }
  assert.equal(clusterLeftovers(ctx.standIn), []);
});

if (k) serving.run();

// ---------------------------------------------------------------- failures
const failures = suite('kubernetes through the stand-in API server: failures are said clearly and leave nothing');

failures('stand-in API server: a task image that never pulls fails within startupTimeoutMs, saying so', async () => {
  const d = k8sDeployment(ctx.standIn);
  // nothing listens on port 9 of loopback: every pull is refused, as from a registry that is down
  const err = await rejects(
    d.create({ image: '127.0.0.1:9/agentix-test-no-such-image:1', bundle: BUNDLE, labels, startupTimeoutMs: 5_000 }),
    /failed to start: the pod did not become ready within 5000 ms: Pending, image pull failed for the task container \(127\.0\.0\.1:9\/agentix-test-no-such-image:1\): (ErrImagePull|ImagePullBackOff): .*127\.0\.0\.1:9/,
  );
  assert.not.match(err.message, /--- last pod output/);
  assert.equal(clusterLeftovers(ctx.standIn), [], 'pod and secret removed');
});

failures('stand-in API server: a runtime that exits fails at once with its exit code and last output', async () => {
  const d = k8sDeployment(ctx.standIn);
  await rejects(
    d.create({ image: ctx.busybox, bundle: BUNDLE, labels, env: { AGENTIX_MAX_PAYLOAD: 'lots' } }),
    /the pod ended \(phase Failed\): the runtime exited with code 1[\s\S]*--- last pod output ---[\s\S]*AGENTIX_MAX_PAYLOAD must be an integer/,
  );
  assert.equal(clusterLeftovers(ctx.standIn), []);
});

failures('stand-in API server: bad ids are refused before any request; a bundle that is not there fails like a task image', async () => {
  const d = k8sDeployment(ctx.standIn);
  for (const bad of ['', 'x/../../secrets', 'agentix-XYZ', 'kube-dns']) {
    await rejects(d.get(bad), /invalid sandbox id/);
    await rejects(d.delete(bad), /invalid sandbox id/);
  }
  await rejects(d.get('agentix-0000000000'), /no sandbox agentix-0000000000/);
  await d.delete('agentix-0000000000');
  await rejects(
    k8sDeployment(ctx.standIn, { AGENTIX_K8S_INJECT: 'copy' }).create({ image: ctx.busybox, bundle: '127.0.0.1:9/agentix-test-no-bundle:1', labels, startupTimeoutMs: 3_000 }),
    /image pull failed for the init container that copies the bundle \(127\.0\.0\.1:9\/agentix-test-no-bundle:1\)/,
  );
  assert.equal(clusterLeftovers(ctx.standIn), []);
});

if (k) failures.run();

// ---------------------------------------------------------------- gc
const gc = suite('kubernetes through the stand-in API server: agentix gc');

gc('stand-in API server: gc removes the pod and secret of a host process that crashed, keeps a live one', async () => {
  const orphan = await sandboxOfCrashedHost('kubernetes.ts', 'KubernetesDeployment', { image: ctx.busybox, bundle: BUNDLE, labels }, { KUBECONFIG: ctx.standIn.kubeconfig });
  assert.match(orphan, /^agentix-[0-9a-f]{10}$/, `child printed ${JSON.stringify(orphan)}`);
  assert.ok(ctx.standIn.store.get('pods', ctx.standIn.namespace, orphan), 'the crashed host left its pod');

  const d = k8sDeployment(ctx.standIn);
  const live = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels });
  try {
    const { code, out } = await runGc(['--kubernetes'], { KUBECONFIG: ctx.standIn.kubeconfig });
    const lines = out.split(/(?<=\n)/);
    assert.is(code, 0);
    assert.ok(lines.some((l) => l.startsWith(`removed sandbox ${orphan}`)), lines.join(''));
    assert.ok(lines.some((l) => l.startsWith(`removed secret ${orphan}`)), lines.join(''));
    // gc deletes with grace 0; the stand-in's kubelet removes the container right after
    for (let i = 0; i < 100 && ctx.standIn.store.get('pods', ctx.standIn.namespace, orphan); i++) await new Promise((r) => setTimeout(r, 100));
    assert.not.ok(ctx.standIn.store.get('pods', ctx.standIn.namespace, orphan), 'the orphan pod is gone');
    assert.ok(ctx.standIn.store.get('pods', ctx.standIn.namespace, live.id), 'the live sandbox stays');
  } finally {
    await d.delete(live.id);
  }
});

gc('stand-in API server: every request the backend made is one docs/kubernetes-rbac.yaml allows', () => {
  const docs = loadAll(readFileSync(fileURLToPath(new URL('../../docs/kubernetes-rbac.yaml', import.meta.url)), 'utf8')) as { kind: string; rules?: { resources: string[]; verbs: string[] }[] }[];
  const role = docs.find((d) => d.kind === 'Role')!;
  const allowed = new Set(role.rules!.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`))));
  const made = [...ctx.standIn.requests.keys()].filter((k) => k !== 'get version'); // /version is open to every authenticated user
  assert.ok(made.length >= 8, `requests seen: ${made.join(', ')}`);
  for (const r of made) assert.ok(allowed.has(r), `the Role does not allow "${r}"`);
});

async function cleanup(): Promise<void> {
  await ctx.standIn?.close();
  if (ctx.imageId) await removeBundle(k!.docker, ctx.imageId);
  for (const c of await k!.docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${RUN}`] } })) await k!.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  ctx.fixture?.remove();
}

gc('stand-in API server: finally, nothing of this file remains (pods, secrets, containers, volumes, the carrier, the image)', async () => {
  assert.equal(clusterLeftovers(ctx.standIn), []);
  await cleanup();
  assert.equal(await engineLeftovers(k!.docker, RUN_LABEL, RUN), []);
  assert.not.ok(await k!.docker.getImage(BUNDLE).inspect().then(() => true, () => false), 'bundle image removed');
});
gc.after(async () => {
  await cleanup().catch(() => undefined);
});

if (k) gc.run();

if (!k) {
  const skipped = suite('kubernetes stand-in (no engine)');
  skipped.skip('every stand-in API server test', () => {});
  skipped.run();
}

