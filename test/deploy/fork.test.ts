/**
 * fork() on the local deployment, whose snapshot is a copy of the sandbox's
 * working directory: the fork has the files written before, runs in a copy of
 * its own, and the original keeps running. A backend without snapshot() gets
 * a clear error that names it, before anything is created. Forking on Docker:
 * test/docker/pool.test.ts.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentixError, fork, loadDeployment, RuntimeClient, type Deployment, type Sandbox, type SandboxConfig } from '../../index.js';
import { LOCAL_SNAPSHOT_SCHEME, removeLocalTempDir } from '../../deploy/local-temp.js';
import { repoRoot } from '../support/serve.js';
import { withClient } from '../support/sandbox-client.js';

const ctx = {} as { temp: string; project: string };

const test = suite('fork');
test.before(() => {
  ctx.temp = mkdtempSync(join(tmpdir(), 'agentix-fork-test-'));
  ctx.project = join(ctx.temp, 'p');
  cpSync(join(repoRoot, 'test/deploy/sandbox-fixture'), ctx.project, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
  symlinkSync(join(repoRoot, 'node_modules'), join(ctx.project, 'node_modules'));
});
test.after(() => rmSync(ctx.temp, { recursive: true, force: true }));

const read = async (c: RuntimeClient, path: string) => Buffer.from(await c.call<Uint8Array>('files.read', [path])).toString();

/**
 * Runs `body` with a sandbox made from `config`; afterwards, also when it
 * fails, deletes that sandbox and every local snapshot handed to `keep`.
 */
async function withOriginal(d: Deployment, config: SandboxConfig, body: (original: Sandbox, keep: (ref: string) => void) => Promise<void>): Promise<void> {
  const original = await d.create(config);
  const refs: string[] = [];
  try {
    await body(original, (ref) => void refs.push(ref));
  } finally {
    await d.delete(original.id);
    for (const ref of refs) removeLocalTempDir(ref.slice(LOCAL_SNAPSHOT_SCHEME.length));
  }
}

test('a local fork has the files written before it, in a copy of its own; the original keeps running', async () => {
  const d = new (await loadDeployment('local'))();
  const config: SandboxConfig = { image: '', bundle: ctx.project, workdir: mkdtempSync(join(ctx.temp, 'work-')) };
  await withOriginal(d, config, async (original, keep) => {
    await withClient(original, (a) => a.call('files.write', ['state/progress', 'step-k']));
    const child = await fork(d, original, { ...config, env: { BRANCH: 'b' } });
    keep(child.snapshot);
    try {
      assert.ok(child.snapshot.startsWith(LOCAL_SNAPSHOT_SCHEME), child.snapshot);
      await withClient(child, async (b) => {
        assert.is(await read(b, 'state/progress'), 'step-k', 'the file written before the fork is there');
        assert.is.not(await b.call<string>('cwd', []), config.workdir, 'the fork runs in its own copy');
        await b.call('files.write', ['state/progress', 'fork']);
      });
    } finally {
      await d.delete(child.id);
    }
    assert.is((await d.get(original.id)).state, 'running');
    await withClient(original, async (a) => assert.is(await read(a, 'state/progress'), 'step-k', "the fork's writes stay in the fork"));
  });
});

test("a link in the working directory to a file in it points at the fork's own copy: writes through it stay in the fork", async () => {
  const d = new (await loadDeployment('local'))();
  const work = mkdtempSync(join(ctx.temp, 'links-'));
  mkdirSync(join(work, 'data'));
  writeFileSync(join(work, 'data/real'), 'original');
  writeFileSync(join(ctx.temp, 'outside'), 'host file');
  symlinkSync(join(work, 'data/real'), join(work, 'abs')); // absolute, into the working directory
  symlinkSync('data/real', join(work, 'rel'));
  symlinkSync(`../${basename(work)}/data/real`, join(work, 'detour')); // relative, out and back in by the directory's name
  symlinkSync('../outside', join(work, 'up')); // relative, out of it
  symlinkSync(join(ctx.temp, 'outside'), join(work, 'host'));
  const config: SandboxConfig = { image: '', bundle: ctx.project, workdir: work };
  await withOriginal(d, config, async (original, keep) => {
    const child = await fork(d, original, config);
    keep(child.snapshot);
    try {
      const dir = await withClient(child, (b) => b.call<string>('cwd', []));
      assert.is(readlinkSync(join(dir, 'abs')), join(dir, 'data/real'), 'an absolute link into the working directory points into the copy');
      assert.is(readlinkSync(join(dir, 'rel')), 'data/real');
      assert.is(readlinkSync(join(dir, 'detour')), 'data/real', 'a relative link into it by a detour points into the copy');
      assert.is(readFileSync(join(dir, 'up'), 'utf8'), 'host file', 'a relative link out of it still reaches what it reached');
      assert.is(readlinkSync(join(dir, 'host')), join(ctx.temp, 'outside'), 'a link to a host file stays a link (the file is not copied in)');
      writeFileSync(join(dir, 'abs'), 'written by the fork');
      assert.is(readFileSync(join(work, 'data/real'), 'utf8'), 'original', "the fork's write through the link did not reach the original");
    } finally {
      await d.delete(child.id);
    }
  });
});

test("snapshot() leaves the host's event loop turning while it copies the working directory", async () => {
  const d = new (await loadDeployment('local'))();
  const work = mkdtempSync(join(ctx.temp, 'many-'));
  for (let i = 0; i < 200; i++) writeFileSync(join(work, `f${i}`), String(i));
  await withOriginal(d, { image: '', bundle: ctx.project, workdir: work }, async (sb, keep) => {
    // a copy done in one synchronous stretch (it was) stopped every other sandbox's calls and timers
    let turns = 0;
    let copying = true;
    const spin = () => {
      turns++;
      if (copying) setImmediate(spin);
    };
    setImmediate(spin);
    const ref = await d.snapshot!(sb.id).finally(() => (copying = false));
    keep(ref);
    assert.ok(turns > 0, 'the event loop did not turn once during the copy');
    assert.is(readFileSync(join(ref.slice(LOCAL_SNAPSHOT_SCHEME.length), 'root', 'f199'), 'utf8'), '199');
  });
});

test('a fork whose create fails rejects with the error, which names the snapshot it made, so it can be retried from or removed (deleteSnapshot)', async () => {
  const d = new (await loadDeployment('local'))();
  const config: SandboxConfig = { image: '', bundle: ctx.project, workdir: mkdtempSync(join(ctx.temp, 'work-')) };
  await withOriginal(d, config, async (original, keep) => {
    await withClient(original, (a) => a.call('files.write', ['state/progress', 'step-k']));
    const err = (await fork(d, original, { ...config, env: { AGENTIX_TOKEN: 'mine' } }).catch((e: unknown) => e)) as AgentixError & { snapshot?: string };
    assert.ok(err instanceof AgentixError, String(err));
    assert.is(err.code, 'INVALID_ARGUMENT', 'the create error as it was');
    assert.type(err.snapshot, 'string', 'the error names the snapshot');
    const snapshot = err.snapshot!;
    keep(snapshot);
    assert.ok(snapshot.startsWith(LOCAL_SNAPSHOT_SCHEME), snapshot);
    const retry = await d.create({ ...config, image: snapshot });
    try {
      await withClient(retry, async (b) => assert.is(await read(b, 'state/progress'), 'step-k'));
    } finally {
      await d.delete(retry.id);
    }
    // or removed: deleteSnapshot takes the reference as the error gives it
    await d.deleteSnapshot!(snapshot);
    assert.not.ok(existsSync(snapshot.slice(LOCAL_SNAPSHOT_SCHEME.length)), 'the snapshot is gone');
  });
});

/** A real backend (local) that does not offer snapshot(), as a backend without one would. */
class NoSnapshotDeployment implements Deployment {
  creates = 0;
  constructor(private readonly inner: Deployment) {}
  create(c: SandboxConfig) {
    this.creates++;
    return this.inner.create(c);
  }
  delete(id: string) {
    return this.inner.delete(id);
  }
  get(id: string) {
    return this.inner.get(id);
  }
}

test('fork on a deployment without snapshot() fails with an AgentixError naming the backend, and creates nothing', async () => {
  const local = new (await loadDeployment('local'))();
  const d = new NoSnapshotDeployment(local);
  const sb = await d.create({ image: '', bundle: ctx.project });
  try {
    const err = (await fork(d, sb, { image: '', bundle: ctx.project }).catch((e: unknown) => e)) as AgentixError;
    assert.ok(err instanceof AgentixError, String(err));
    assert.is(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, /the nosnapshot deployment cannot snapshot a sandbox/);
    assert.is(d.creates, 1, 'only the original was created');
    assert.is((await d.get(sb.id)).state, 'running');
  } finally {
    await d.delete(sb.id);
  }
});

test('fork refuses what is not a sandbox, naming the argument', async () => {
  const d = new (await loadDeployment('local'))();
  const err = (await fork(d, {} as never, { image: '', bundle: ctx.project }).catch((e: unknown) => e)) as AgentixError;
  assert.ok(err instanceof AgentixError);
  assert.match(err.message, /the second argument must be a Sandbox \(or its id\)/);
});

test.run();
