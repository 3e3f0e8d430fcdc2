/**
 * `lifetimeMs` of Docker sandboxes against a real engine: the deployment
 * that made a sandbox deletes it at the end of its lifetime; when that host
 * cannot (it hangs, or died), the runtime exits by itself and `agentix gc`
 * removes the container although its owner still runs. Everything this file
 * makes carries a run label and is removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { DockerDeployment, LABELS, statusOf } from '../../deploy/docker.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';
import { runGc } from '../support/crash.js';
import { containersWith, engineOrSkip, removeBundle, taskImage } from '../support/docker.js';
import { alive, eventually } from '../support/serve.js';

const docker = await engineOrSkip('docker sandbox lifetime');
const RUN = `agentix-test-life-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const BUNDLE = `${RUN}:1`;
const labels = { [RUN_LABEL]: RUN };
const ctx = {} as { fixture: FixtureCopy; imageId: string; busybox: string };

const state = (id: string) =>
  docker!
    .getContainer(id)
    .inspect()
    .then(
      (i) => i.State.Status,
      (err) => (statusOf(err) === 404 ? 'gone' : Promise.reject(err)),
    );

const test = suite('docker: lifetimeMs');
test.before(async () => {
  ctx.fixture = copyHelloFixture();
  const [built, busybox] = await Promise.all([buildBundle({ projectDir: ctx.fixture.dir, tag: BUNDLE, generate: false, tools: ['bash'] }), taskImage(docker!, 'busybox')]);
  Object.assign(ctx, { imageId: built.imageId, busybox });
});

test('the deployment deletes a sandbox at the end of its lifetime', async () => {
  const d = new DockerDeployment();
  const before = Date.now();
  const sandbox = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, lifetimeMs: 4000 });
  try {
    const info = await docker!.getContainer(sandbox.id).inspect();
    const at = Number(info.Config.Labels[LABELS.expiresAt]);
    assert.ok(at >= before + 4000 && at <= Date.now() + 4000, `expires-at ${at}`);
    assert.ok(info.Config.Env.includes('AGENTIX_LIFETIME_MS=4000'), 'the runtime knows its lifetime');
    assert.ok(await eventually(async () => (await state(sandbox.id)) === 'gone', 30_000, 200), `still ${await state(sandbox.id)}`);
    assert.is((await d.get(sandbox.id)).state, 'deleted');
  } finally {
    await d.delete(sandbox.id);
  }
});

/** A host process that creates a sandbox and then hangs (its event loop blocked: no timer of its runs), alive. */
async function hungHost(lifetimeMs: number): Promise<{ child: ChildProcess; id: string }> {
  const script = `
    import { DockerDeployment } from ${JSON.stringify(fileURLToPath(new URL('../../deploy/docker.ts', import.meta.url)))};
    const s = await new DockerDeployment().create(${JSON.stringify({ image: ctx.busybox, bundle: BUNDLE, labels, lifetimeMs })});
    process.stdout.write(s.id + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b));
  const printed = await eventually(() => /^[0-9a-f]{64}\n/.test(out) || child.exitCode !== null, 60_000, 50);
  if (!printed || child.exitCode !== null) {
    child.kill('SIGKILL');
    throw new Error(`the host printed no sandbox id: ${JSON.stringify(out)}`);
  }
  return { child, id: out.trim() };
}

test('past its lifetime the runtime exits by itself, and agentix gc removes the sandbox although its owner lives', async () => {
  const { child, id } = await hungHost(3000);
  const d = new DockerDeployment();
  const keeper = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, lifetimeMs: 600_000 });
  try {
    assert.ok(await eventually(async () => (await state(id)) === 'exited', 30_000, 200), `the runtime did not exit by itself: ${await state(id)}`);
    assert.ok(alive(child.pid!), 'its owner still runs');
    const { code, out } = await runGc(['--docker']);
    assert.is(code, 0);
    assert.is(await state(id), 'gone', `gc removed the expired sandbox:\n${out}`);
    assert.is(await state(keeper.id), 'running', 'gc kept a sandbox of a live owner within its lifetime');
  } finally {
    child.kill('SIGKILL');
    await d.delete(keeper.id);
    await docker!.getContainer(id).remove({ force: true }).catch(() => undefined);
  }
});

test('a bad lifetimeMs is refused, naming the option', async () => {
  const d = new DockerDeployment();
  for (const bad of [0, -1, 1.5, Number.NaN])
    assert.match(((await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, lifetimeMs: bad }).catch((e: Error) => e)) as Error).message, /`lifetimeMs` must be a positive whole number of milliseconds/);
});

async function cleanup(): Promise<void> {
  for (const c of await containersWith(docker!, `${RUN_LABEL}=${RUN}`)) await docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  if (ctx.imageId) await removeBundle(docker!, ctx.imageId);
  ctx.fixture?.remove();
}

test('finally: nothing of this file remains', async () => {
  await cleanup();
  assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).length, 0);
});
test.after(cleanup);

if (docker) test.run();
