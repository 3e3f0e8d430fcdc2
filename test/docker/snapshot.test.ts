/**
 * Snapshots of Docker sandboxes against a real engine: what `snapshot(id)`
 * commits (the task container's files, not the bundle's /nix, not the
 * sandbox's token or env), that a sandbox starts from it with the files
 * written before, that the original keeps running, that `deleteSnapshot`
 * removes a snapshot (and nothing else, nor one a sandbox uses), and that
 * `agentix gc` removes the snapshots whose owner is gone. Everything this file makes
 * carries a run label (snapshots inherit it) and is removed at the end.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import tar from 'tar-stream';
import { buildBundle } from '../../bundle/index.js';
import { DockerDeployment, LABELS, statusOf } from '../../deploy/docker.js';
import { fork } from '../../deploy/fork.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import type { AgentixError } from '../../runtime/wire/errors.js';
import { rejects } from '../support/assert.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';
import { hostScriptOutput, runGc } from '../support/crash.js';
import { containersWith, engineOrSkip, removeBundle, taskImage } from '../support/docker.js';
import { withClient, withSandbox } from '../support/sandbox-client.js';

const docker = await engineOrSkip('docker snapshots');
const RUN = `agentix-test-snap-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const BUNDLE = `${RUN}:1`;
const labels = { [RUN_LABEL]: RUN };

const ctx = {} as { fixture: FixtureCopy; imageId: string; busybox: string };

const test = suite('docker: snapshot(id)');
test.before(async () => {
  ctx.fixture = copyHelloFixture();
  const [built, busybox] = await Promise.all([buildBundle({ projectDir: ctx.fixture.dir, tag: BUNDLE, generate: false, tools: ['bash', 'coreutils'] }), taskImage(docker!, 'busybox')]);
  Object.assign(ctx, { imageId: built.imageId, busybox });
});

async function imageExists(ref: string): Promise<boolean> {
  return docker!.getImage(ref).inspect().then(
    () => true,
    (err) => (statusOf(err) === 404 ? false : Promise.reject(err)),
  );
}

/** The entry names of `path` in a container made (never started) from `image`. */
async function pathsInImage(image: string, path: string): Promise<string[]> {
  const c = await docker!.createContainer({ Image: image, Cmd: ['/bin/true'], Labels: labels });
  try {
    const archive = (await c.getArchive({ path })) as unknown as NodeJS.ReadableStream;
    const names: string[] = [];
    const ex = tar.extract();
    ex.on('entry', (h, stream, next) => {
      names.push(h.name);
      stream.resume();
      stream.on('end', next);
    });
    await new Promise<void>((resolve, reject) => {
      ex.on('finish', resolve);
      ex.on('error', reject);
      archive.pipe(ex);
    });
    return names;
  } finally {
    await c.remove({ force: true });
  }
}

test('a sandbox started from a snapshot has the files written before it; the original keeps running', async () => {
  const d = new DockerDeployment();
  const original = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, env: { SECRET: 'only-for-the-original' }, workdir: '/tmp' });
  let ref = '';
  try {
    const a = await RuntimeClient.connect(original);
    try {
      await a.call('sh', ['mkdir -p /work/state && echo step-k > /work/state/progress && echo tmp > /tmp/here']);
      ref = await d.snapshot(original.id);
      assert.match(ref, /^agentix-snapshot:[0-9a-f]{12}-[0-9a-f]{8}$/);
      // written after the snapshot: must not be in it
      await a.call('sh', ['echo later > /work/state/after']);

      const fork = await d.create({ image: ref, bundle: BUNDLE, labels, workdir: '/tmp' });
      try {
        assert.is.not(fork.token, original.token);
        const b = await RuntimeClient.connect(fork);
        try {
          assert.is(await b.call('sh', ['cat /work/state/progress /tmp/here; ls /work/state']), 'step-k\ntmp\nprogress\n');
          assert.is(await b.call('env', ['SECRET']), null, "the original's env is not in the snapshot");
          assert.is(await b.call('hello', ['fork']), 'hello fork');
          // the fork's own writes stay in the fork
          await b.call('sh', ['echo fork > /work/state/progress']);
        } finally {
          await b.close();
        }
        // the original's token does not open the fork
        const stolen = await RuntimeClient.connect({ ...fork, token: original.token }).then(
          async (c) => (await c.close(), 'connected'),
          (e: Error) => e.message,
        );
        assert.is.not(stolen, 'connected');
      } finally {
        await d.delete(fork.id);
      }
      assert.is(await a.call('sh', ['cat /work/state/progress']), 'step-k\n', 'the original is untouched and still answers');
      assert.is((await d.get(original.id)).state, 'running');
    } finally {
      await a.close();
    }
  } finally {
    await d.delete(original.id);
    if (ref) await docker!.getImage(ref).remove({ force: true }).catch(() => undefined);
  }
});

test("the snapshot image holds neither the bundle's /nix nor the sandbox's token, env or entrypoint", async () => {
  const d = new DockerDeployment();
  const sandbox = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, env: { SECRET: 'hush' }, user: '65534:65534' });
  let ref = '';
  try {
    ref = await d.snapshot(sandbox.id);
    const img = await docker!.getImage(ref).inspect();
    const base = await docker!.getImage(ctx.busybox).inspect();
    const env = img.Config.Env ?? [];
    assert.not.ok(env.some((e) => e.includes(sandbox.token)), `the token is in the image's env: ${env.join(' ')}`);
    assert.not.ok(env.some((e) => e.includes('hush')), 'the user env value is in the image');
    // what the sandbox added is there only as a bare name: the engine's "unset"
    for (const name of ['AGENTIX_TOKEN', 'SECRET', 'AGENTIX_BIND_PORT', 'AGENTIX_BIND_SOCKET']) assert.ok(env.includes(name), `${name} unset in ${env.join(' ')}`);
    assert.equal(env.filter((e) => e.includes('=')), base.Config.Env, "the task image's own env, nothing else with a value");
    assert.equal(img.Config.Cmd, base.Config.Cmd);
    assert.equal(img.Config.Entrypoint ?? [], [], "the bundle's entrypoint is not the image's");
    assert.is(img.Config.User, '0', 'not the sandbox\'s user');
    const l = img.Config.Labels ?? {};
    assert.is(l[LABELS.snapshot], '1');
    assert.is(l[LABELS.snapshotOf], sandbox.id);
    assert.is(l[LABELS.ownerPid], String(process.pid));
    assert.is(l[LABELS.sandbox], '', 'a container made from the snapshot by hand is not taken for a sandbox');
    assert.is(l[LABELS.createId], '');
    assert.is(l[LABELS.socketDir], '', "the sandbox's socket directory is not the snapshot's");
    assert.is(l[RUN_LABEL], RUN, "the sandbox's own labels stay");
    // /nix is a volume of the carrier: only its empty mount point is committed
    const nix = await pathsInImage(ref, '/nix');
    assert.equal(nix, ['nix/'], `in the snapshot's /nix: ${nix.slice(0, 5).join(' ')}`);
  } finally {
    await d.delete(sandbox.id);
    if (ref) await docker!.getImage(ref).remove({ force: true }).catch(() => undefined);
  }
});

test("a fork does not inherit the original's network, socket directory or lifetime through the snapshot", async () => {
  const d = new DockerDeployment();
  const original = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, network: 'none', lifetimeMs: 600_000 });
  let ref = '';
  try {
    ref = await d.snapshot(original.id);
    // reached by port, so that nothing of the original's socket could serve it
    await withSandbox(new DockerDeployment({ runtimeReach: 'port' }), { image: ref, bundle: BUNDLE, labels }, async (fork) => {
      assert.match(fork.runtimeUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
      const c = await docker!.getContainer(fork.id).inspect();
      assert.is(c.Config.Labels[LABELS.expiresAt], '', 'no lifetime of its own, none inherited');
      assert.is(c.Config.Labels[LABELS.socketDir], '');
      assert.not.ok((c.Config.Env ?? []).some((e) => e.startsWith('AGENTIX_LIFETIME_MS=') || e.startsWith('AGENTIX_BIND_SOCKET=')), c.Config.Env.join(' '));
      await withClient(fork, async (client) => assert.is(await client.call('hello', ['fork']), 'hello fork'));
    });
  } finally {
    await d.delete(original.id);
    if (ref) await docker!.getImage(ref).remove({ force: true }).catch(() => undefined);
  }
});

test('a fork of a bridge sandbox reached by its socket gets a socket directory of its own; deleting it leaves the original\'s', async () => {
  const d = new DockerDeployment();
  await withSandbox(d, { image: ctx.busybox, bundle: BUNDLE, labels }, async (original) => {
    const originalDir = (await docker!.getContainer(original.id).inspect()).Config.Labels[LABELS.socketDir]!;
    assert.ok(existsSync(originalDir), originalDir);
    const forked = await fork(d, original, { image: ctx.busybox, bundle: BUNDLE, labels });
    let forkDir = '';
    try {
      assert.match(forked.runtimeUrl, /^ws\+unix:\/\//);
      assert.is.not(forked.runtimeUrl, original.runtimeUrl);
      const c = await docker!.getContainer(forked.id).inspect();
      forkDir = c.Config.Labels[LABELS.socketDir]!;
      assert.ok(forkDir && forkDir !== originalDir, `${forkDir} vs ${originalDir}`);
      assert.is(c.HostConfig.Mounts?.find((m) => m.Target === '/run/agentix')?.Source, join(forkDir, 's'), 'its own directory is mounted');
      await withClient(forked, async (client) => assert.is(await client.call('hello', ['fork']), 'hello fork'));
    } finally {
      await d.delete(forked.id);
      await docker!.getImage(forked.snapshot).remove({ force: true }).catch(() => undefined);
    }
    assert.not.ok(existsSync(forkDir), "the fork's directory went with it");
    assert.ok(existsSync(originalDir), "the original's stays");
    await withClient(original, async (client) => assert.is(await client.call('hello', ['original']), 'hello original'));
  });
});

test('snapshot() refuses what is not a running sandbox, with the id in the message', async () => {
  const d = new DockerDeployment();
  const err = (await d.snapshot('0123456789ab').catch((e: Error) => e)) as Error;
  assert.match(err.message, /cannot snapshot sandbox 0123456789ab: no such sandbox/);
  const bad = (await d.snapshot('../x').catch((e: Error) => e)) as Error;
  assert.match(bad.message, /invalid sandbox id/);
});

test('deleteSnapshot removes the snapshot image; once removed, or never made, it is NOT_FOUND naming the reference', async () => {
  const d = new DockerDeployment();
  let ref = '';
  try {
    await withSandbox(d, { image: ctx.busybox, bundle: BUNDLE, labels }, async (original) => {
      ref = await d.snapshot(original.id);
    });
    assert.ok(await imageExists(ref), ref);
    await d.deleteSnapshot(ref);
    assert.not.ok(await imageExists(ref), 'the snapshot image is gone');
    for (const gone of [ref, `agentix-snapshot:${RUN}-never`]) {
      const err = (await rejects(d.deleteSnapshot(gone), /no such image/)) as AgentixError;
      assert.is(err.code, 'NOT_FOUND', gone);
      assert.ok(err.message.includes(JSON.stringify(gone)), err.message);
    }
  } finally {
    if (ref) await docker!.getImage(ref).remove({ force: true }).catch(() => undefined);
  }
});

test('deleteSnapshot refuses an image that is not a snapshot (INVALID_ARGUMENT naming it) and leaves it', async () => {
  const d = new DockerDeployment();
  // the snapshot repository's name on an image without the snapshot label: the label decides
  const impostor = `agentix-snapshot:${RUN}-impostor`;
  await docker!.getImage(ctx.busybox).tag({ repo: 'agentix-snapshot', tag: `${RUN}-impostor` });
  try {
    for (const [ref, re] of [
      [ctx.busybox, /not a snapshot reference/],
      [BUNDLE, /not a snapshot reference/],
      ['agentix-snapshot:../../containers/x', /not a snapshot reference/],
      ['', /not a snapshot reference/],
      [impostor, /has no agentix\.snapshot=1 label/],
    ] as const) {
      const err = (await rejects(d.deleteSnapshot(ref), re)) as AgentixError;
      assert.is(err.code, 'INVALID_ARGUMENT', ref);
      assert.ok(err.message.includes(JSON.stringify(ref)), err.message);
    }
    for (const kept of [ctx.busybox, BUNDLE, impostor]) assert.ok(await imageExists(kept), `${kept} is still there`);
  } finally {
    // the tag only: the task image keeps its own name
    await docker!.getImage(impostor).remove().catch(() => undefined);
  }
});

test('a snapshot a sandbox was started from is kept and refused (UNAVAILABLE, naming the sandbox) until that sandbox is deleted', async () => {
  const d = new DockerDeployment();
  let ref = '';
  try {
    await withSandbox(d, { image: ctx.busybox, bundle: BUNDLE, labels }, async (original) => {
      await withClient(original, (a) => a.call('sh', ['echo step-k > /tmp/progress']));
      const forked = await fork(d, original, { image: ctx.busybox, bundle: BUNDLE, labels });
      ref = forked.snapshot;
      try {
        const err = (await rejects(d.deleteSnapshot(ref), /use it/)) as AgentixError;
        assert.is(err.code, 'UNAVAILABLE');
        assert.ok(err.message.includes(forked.id) && err.message.includes(JSON.stringify(ref)), err.message);
        assert.equal(err.data?.containers, [forked.id]);
        assert.ok(await imageExists(ref), 'the snapshot is kept');
        await withClient(forked, async (b) => assert.is(await b.call('sh', ['cat /tmp/progress']), 'step-k\n', 'the fork still answers'));
      } finally {
        await d.delete(forked.id);
      }
      await d.deleteSnapshot(ref);
      assert.not.ok(await imageExists(ref), 'with the fork deleted the snapshot goes');
      assert.is((await d.get(original.id)).state, 'running', 'the original keeps running');
    });
  } finally {
    if (ref) await docker!.getImage(ref).remove({ force: true }).catch(() => undefined);
  }
});

/** A host process that creates a sandbox and snapshots it, then dies by SIGKILL: returns the snapshot ref. */
function snapshotOfCrashedHost(): Promise<string> {
  return hostScriptOutput(`
    import { DockerDeployment } from ${JSON.stringify(fileURLToPath(new URL('../../deploy/docker.ts', import.meta.url)))};
    const d = new DockerDeployment();
    const s = await d.create(${JSON.stringify({ image: ctx.busybox, bundle: BUNDLE, labels })});
    process.stdout.write((await d.snapshot(s.id)) + '\\n');
    process.kill(process.pid, 'SIGKILL');
  `);
}

test('agentix gc removes the snapshots of a crashed host, keeps those of a live one', async () => {
  const orphan = await snapshotOfCrashedHost();
  assert.match(orphan, /^agentix-snapshot:/, `child printed ${JSON.stringify(orphan)}`);
  const d = new DockerDeployment();
  const live = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels });
  let mine = '';
  try {
    mine = await d.snapshot(live.id);
    const { code, out } = await runGc(['--docker']);
    assert.is(code, 0);
    assert.not.ok(await imageExists(orphan), `gc removed the orphan snapshot:\n${out}`);
    assert.ok(out.includes(`removed snapshot ${orphan}`), out);
    assert.ok(await imageExists(mine), 'gc kept the snapshot whose owner (this process) runs');
  } finally {
    await d.delete(live.id);
    if (mine) await docker!.getImage(mine).remove({ force: true }).catch(() => undefined);
    await docker!.getImage(orphan).remove({ force: true }).catch(() => undefined);
  }
});

test('finally: nothing of this file remains', async () => {
  await cleanup();
  assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).length, 0);
  const images = await docker!.listImages({ filters: { label: [`${RUN_LABEL}=${RUN}`] } } as object);
  assert.is(images.length, 0, images.map((i) => i.RepoTags).join(' '));
});

async function cleanup(): Promise<void> {
  for (const c of await containersWith(docker!, `${RUN_LABEL}=${RUN}`)) await docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  for (const i of await docker!.listImages({ filters: { label: [`${RUN_LABEL}=${RUN}`] } } as object)) await docker!.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  if (ctx.imageId) await removeBundle(docker!, ctx.imageId);
  ctx.fixture?.remove();
}
test.after(cleanup);

if (docker) test.run();
