/**
 * Snapshots, `network`, `ports` and `lifetimeMs` on the local deployment,
 * with real server processes: a snapshot is a copy of the working directory
 * that a new sandbox starts from (and that goes by deleteSnapshot, when its
 * process ends, or by `agentix gc` after a crash); `network: 'none'` runs the server under
 * `unshare --net` where that works (and is refused where not); ports are
 * the host's; a sandbox is deleted at the end of its lifetime.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalDeployment } from '../../deploy/local.js';
import { unshareProblem } from '../../deploy/local-network.js';
import { freeLoopbackPort } from '../../deploy/shared/loopback.js';
import type { Sandbox, SandboxConfig } from '../../deploy/types.js';
import type { AgentixError } from '../../runtime/wire/errors.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { rejects } from '../support/assert.js';
import { assertFullyCallable, withClient, withSandbox } from '../support/sandbox-client.js';
import { hostScriptOutput, runGc } from '../support/crash.js';
import { eventually, repoRoot } from '../support/serve.js';

const ctx = {} as { temp: string; project: string };
const myTempDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`agentix-local-`) && n.includes(`-${process.pid}-`));

function withLocalSandbox<T>(d: LocalDeployment, config: Partial<SandboxConfig>, fn: (s: Sandbox) => Promise<T>): Promise<T> {
  return withSandbox(d, { image: '', bundle: ctx.project, startupTimeoutMs: 120_000, ...config }, fn);
}

const read = async (c: RuntimeClient, path: string) => Buffer.from(await c.call<Uint8Array>('files.read', [path])).toString();

const test = suite('local deployment: snapshots, network, ports, lifetime');
test.before(() => {
  ctx.temp = mkdtempSync(join(tmpdir(), 'agentix-local-options-test-'));
  ctx.project = join(ctx.temp, 'p');
  cpSync(join(repoRoot, 'test/deploy/sandbox-fixture'), ctx.project, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
  symlinkSync(join(repoRoot, 'node_modules'), join(ctx.project, 'node_modules'));
});
test.after(() => rmSync(ctx.temp, { recursive: true, force: true }));

test('a sandbox started from a snapshot runs in a copy of the working directory as it was', async () => {
  const d = new LocalDeployment();
  const scratch = mkdtempSync(join(ctx.temp, 'work-'));
  await withLocalSandbox(d, { workdir: scratch }, async (original) => {
    const ref = await withClient(original, async (a) => {
      await a.call('files.write', ['state/progress', 'step-k']);
      const ref = await d.snapshot(original.id);
      await a.call('files.write', ['state/after', 'later']);
      return ref;
    });
    assert.match(ref, /^local-snapshot:\//);
    let forkDir = '';
    // as fork helpers do: the original's config with the snapshot as image (its workdir included)
    await withLocalSandbox(d, { workdir: scratch, image: ref }, async (fork) =>
      withClient(fork, async (b) => {
        forkDir = await b.call<string>('cwd', []);
        assert.is.not(forkDir, scratch);
        assert.is(await read(b, 'state/progress'), 'step-k');
        assert.is((await b.call<{ exitCode: number }>('bash.run', ['test -e state/after'])).exitCode, 1, 'written after the snapshot: not in it');
        await b.call('files.write', ['state/progress', 'fork']);
      }),
    );
    assert.not.ok(existsSync(forkDir), "delete removed the fork's working copy");
    await withClient(original, async (a) => assert.is(await read(a, 'state/progress'), 'step-k', 'the original is untouched and still answers'));
    // the snapshot stays as it was: a second sandbox starts from the same state
    await withLocalSandbox(d, { image: ref }, (again) => withClient(again, async (c) => assert.is(await read(c, 'state/progress'), 'step-k')));
  });
});

test('bad snapshot references are refused, naming the option', async () => {
  const d = new LocalDeployment();
  await rejects(d.create({ image: 'local-snapshot:/etc', bundle: ctx.project }), /`image` "local-snapshot:\/etc" is not a local snapshot/);
  await rejects(d.create({ image: `local-snapshot:${join(tmpdir(), 'agentix-local-snapshot-1-gone')}`, bundle: ctx.project }), /agentix-local-snapshot-1-gone": that local snapshot no longer exists/);
  await rejects(d.snapshot('local-nope'), /cannot snapshot sandbox local-nope/);
});

test("a link in the temp dir named like a snapshot is refused: it is not this user's snapshot, and what it points at is not copied", async () => {
  const d = new LocalDeployment();
  const elsewhere = mkdtempSync(join(ctx.temp, 'planted-'));
  mkdirSync(join(elsewhere, 'root'));
  writeFileSync(join(elsewhere, 'root/secret'), 'not yours');
  const link = join(tmpdir(), `agentix-local-snapshot-999999-${randomBytes(4).toString('hex')}`);
  symlinkSync(elsewhere, link);
  try {
    await rejects(d.create({ image: `local-snapshot:${link}`, bundle: ctx.project }), /is not a local snapshot of this user/);
  } finally {
    rmSync(link, { force: true });
  }
});

test('deleteSnapshot removes the snapshot\'s dir: a create from it is then NOT_FOUND, and a sandbox started from it before keeps answering', async () => {
  const d = new LocalDeployment();
  const scratch = mkdtempSync(join(ctx.temp, 'work-'));
  await withLocalSandbox(d, { workdir: scratch }, async (original) => {
    await withClient(original, (a) => a.call('files.write', ['state/progress', 'step-k']));
    const ref = await d.snapshot(original.id);
    const dir = ref.slice('local-snapshot:'.length);
    try {
      await withLocalSandbox(d, { image: ref }, async (fork) => {
        await d.deleteSnapshot(ref);
        assert.not.ok(existsSync(dir), 'the snapshot dir is gone');
        await withClient(fork, async (b) => assert.is(await read(b, 'state/progress'), 'step-k', 'the sandbox started from it runs in its own copy'));
      });
      const err = (await rejects(d.create({ image: ref, bundle: ctx.project }), /no longer exists/)) as AgentixError;
      assert.is(err.code, 'NOT_FOUND');
      const again = (await rejects(d.deleteSnapshot(ref), /no longer exists/)) as AgentixError;
      assert.is(again.code, 'NOT_FOUND', 'a second delete: NOT_FOUND');
      assert.ok(again.message.includes(ref), again.message);
      await withClient(original, async (a) => assert.is(await read(a, 'state/progress'), 'step-k', 'the original is untouched'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('deleteSnapshot refuses what is not a local snapshot of this user (INVALID_ARGUMENT) and removes nothing', async () => {
  const d = new LocalDeployment();
  // a directory named like a snapshot, but not in the temp dir
  const outside = join(mkdtempSync(join(ctx.temp, 'outside-')), `agentix-local-snapshot-${process.pid}-abcdef`);
  mkdirSync(join(outside, 'root'), { recursive: true });
  // a link in the temp dir named like a snapshot, to a directory of this user
  const target = mkdtempSync(join(ctx.temp, 'target-'));
  mkdirSync(join(target, 'root'));
  writeFileSync(join(target, 'root/keep'), 'mine');
  const link = join(tmpdir(), `agentix-local-snapshot-${process.pid}-${randomBytes(4).toString('hex')}`);
  symlinkSync(target, link);
  try {
    for (const [ref, re] of [
      ['agentix-test-busybox:1', /not a local snapshot reference/],
      ['', /not a local snapshot reference/],
      [`local-snapshot:${outside}`, /is not a local snapshot \(/],
      [`local-snapshot:${tmpdir()}/../etc`, /is not a local snapshot \(/],
      ['local-snapshot:/etc', /is not a local snapshot \(/],
      [`local-snapshot:${link}`, /is not a local snapshot of this user/],
    ] as const) {
      const err = (await rejects(d.deleteSnapshot(ref), re)) as AgentixError;
      assert.is(err.code, 'INVALID_ARGUMENT', ref);
      assert.ok(err.message.includes(JSON.stringify(ref)), `the message names ${ref}: ${err.message}`);
    }
    assert.ok(existsSync(join(outside, 'root')), 'the directory outside the temp dir is still there');
    assert.ok(existsSync(link) && existsSync(join(target, 'root/keep')), 'the link and what it points at are still there');
    const unknown = `local-snapshot:${join(tmpdir(), `agentix-local-snapshot-${process.pid}-nosuch`)}`;
    const err = (await rejects(d.deleteSnapshot(unknown), /no longer exists/)) as AgentixError;
    assert.is(err.code, 'NOT_FOUND');
    assert.ok(err.message.includes(unknown), err.message);
  } finally {
    rmSync(link, { force: true });
  }
});

test('a create from a snapshot whose copy is under way when deleteSnapshot is called gets the whole snapshot, then the snapshot goes', async () => {
  const d = new LocalDeployment();
  const work = mkdtempSync(join(ctx.temp, 'many-'));
  const FILES = 3000;
  for (let i = 0; i < FILES; i++) writeFileSync(join(work, `f${i}`), String(i));
  await withLocalSandbox(d, { workdir: work }, async (original) => {
    const ref = await d.snapshot(original.id);
    const dir = ref.slice('local-snapshot:'.length);
    const forksBefore = new Set(myTempDirs().filter((n) => n.startsWith('agentix-local-fork-')));
    const creating = d.create({ image: ref, bundle: ctx.project, startupTimeoutMs: 120_000 });
    creating.catch(() => undefined);
    let fork: Sandbox | undefined;
    try {
      // the fork's working copy exists: its copy has started
      assert.ok(await eventually(() => myTempDirs().some((n) => n.startsWith('agentix-local-fork-') && !forksBefore.has(n)), 60_000, 1), 'the copy started');
      await d.deleteSnapshot(ref);
      assert.not.ok(existsSync(dir), 'the snapshot is gone');
      fork = await creating;
      const copied = await withClient(fork, (b) => b.call<{ stdout: string }>('bash.run', ['ls | wc -l']));
      assert.is(Number(copied.stdout.trim()), FILES, 'every file of the snapshot is in the copy');
    } finally {
      if (fork) await d.delete(fork.id);
      else await creating.then((s) => d.delete(s.id)).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('a sandbox deleted while its snapshot is taken gets no snapshot (NOT_FOUND), and no copy is left behind', async () => {
  const d = new LocalDeployment();
  const work = mkdtempSync(join(ctx.temp, 'work-'));
  for (let i = 0; i < 100; i++) writeFileSync(join(work, `f${i}`), String(i));
  const sb = await d.create({ image: '', bundle: ctx.project, workdir: work });
  const before = new Set(myTempDirs());
  // observed at once: it may settle while delete() still waits for the server to exit
  const refused = rejects(d.snapshot(sb.id), /was deleted or exited while its working directory was copied/);
  await d.delete(sb.id);
  const err = (await refused) as AgentixError;
  assert.is(err.code, 'NOT_FOUND');
  assert.equal(myTempDirs().filter((n) => !before.has(n)), [], 'the partial copy is removed');
});

test("a working directory that holds the host's temp dir is refused by snapshot() instead of copied into itself", async () => {
  const d = new LocalDeployment();
  const holder = mkdtempSync(join(ctx.temp, 'holder-'));
  writeFileSync(join(holder, 'file'), 'x');
  mkdirSync(join(holder, 'tmp'));
  const saved = process.env.TMPDIR;
  const sb = await d.create({ image: '', bundle: ctx.project, workdir: holder });
  try {
    process.env.TMPDIR = join(holder, 'tmp'); // as workdir: '/tmp' (or '/') is to the real one
    await rejects(d.snapshot(sb.id), /must not hold the temp dir/);
    assert.equal(readdirSync(join(holder, 'tmp')), [], 'nothing is left in it');
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await d.delete(sb.id);
  }
});

/** A host process that makes a sandbox and a snapshot of it, then exits normally or dies by SIGKILL: the snapshot's dir. */
function snapshotOfHost(end: 'exit' | 'SIGKILL'): Promise<string> {
  return hostScriptOutput(
    `
    import { LocalDeployment } from ${JSON.stringify(join(repoRoot, 'deploy/local.ts'))};
    const d = new LocalDeployment();
    const s = await d.create({ image: '', bundle: ${JSON.stringify(ctx.project)}, workdir: ${JSON.stringify(ctx.temp)} });
    process.stdout.write((await d.snapshot(s.id)).slice('local-snapshot:'.length) + '\\n');
    ${end === 'exit' ? 'process.exit(0);' : "process.kill(process.pid, 'SIGKILL');"}
  `,
    { timeoutMs: 120_000 },
  );
}

test('snapshots go when their process exits; agentix gc removes those of a process that was killed', async () => {
  const exited = await snapshotOfHost('exit');
  assert.match(exited, /agentix-local-snapshot-/);
  assert.not.ok(existsSync(exited), 'the exit hook removed the snapshot');
  const killed = await snapshotOfHost('SIGKILL');
  assert.ok(existsSync(killed), 'SIGKILL skips the exit hook');
  const d = new LocalDeployment();
  const sandbox = await d.create({ image: '', bundle: ctx.project, workdir: ctx.temp });
  try {
    const live = (await d.snapshot(sandbox.id)).slice('local-snapshot:'.length);
    const { code, out } = await runGc(['--docker']);
    assert.is(code, 0);
    assert.not.ok(existsSync(killed), `gc removed the killed process's snapshot:\n${out}`);
    assert.ok(out.includes(`removed snapshot ${killed}`), out);
    assert.ok(existsSync(live), 'gc kept the snapshot of a process that runs (this one)');
  } finally {
    await d.delete(sandbox.id);
  }
});

/** A TCP server on the host's loopback, the thing a sandbox with network could reach. */
async function hostServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

const noUnshare = unshareProblem();
if (noUnshare) {
  test(`network 'none' is refused where unshare --net does not work (${noUnshare})`, async () => {
    await rejects(new LocalDeployment().create({ image: '', bundle: ctx.project, network: 'none' }), /`network: "none"` needs `unshare --net`/);
  });
} else {
  test("network 'none' (unshare --net): nothing reachable from inside, every call shape and both plugins from the host", async () => {
    const { server, port } = await hostServer();
    const before = myTempDirs();
    try {
      const d = new LocalDeployment();
      await withLocalSandbox(d, { network: 'default' }, (s) => withClient(s, async (c) => assert.is(await c.call('tcpProbe', ['127.0.0.1', port]), 'connected', 'the control reaches the host')));
      await withLocalSandbox(d, { network: 'none', workdir: ctx.temp }, async (sandbox) => {
        assert.match(sandbox.runtimeUrl, /^ws\+unix:\/\/\/.*runtime\.sock$/);
        await withClient(sandbox, async (c) => {
          assert.equal(await c.call('interfaces', []), [], 'not even a loopback that is up');
          assert.is.not(await c.call('tcpProbe', ['127.0.0.1', port]), 'connected');
          assert.match(await c.call<string>('dnsProbe', ['localhost.agentix-test.invalid']), /^E(?!NOTFOUND)/);
          await assertFullyCallable(c, 'none');
        });
      });
      assert.equal(myTempDirs(), before, 'delete removed the socket directory');
    } finally {
      server.close();
      rmSync(join(ctx.temp, 'none.txt'), { force: true });
    }
  });
}

test('ports are the host ports: a server started inside is reachable at sandbox.ports[p]', async () => {
  const port = await freeLoopbackPort();
  await withLocalSandbox(new LocalDeployment(), { ports: [port] }, async (sandbox) => {
    assert.equal(sandbox.ports, { [port]: `http://127.0.0.1:${port}` });
    await withClient(sandbox, (c) => c.call('serveHttp', [port, 'local']));
    assert.is(await (await fetch(sandbox.ports[port]!)).text(), 'local');
  });
  await rejects(new LocalDeployment().create({ image: '', bundle: ctx.project, network: 'none', ports: [port] }), /`ports` cannot be published with `network: "none"`/);
  await rejects(new LocalDeployment().create({ image: '', bundle: ctx.project, lifetimeMs: -5 }), /`lifetimeMs` must be a positive whole number/);
});

test('a sandbox being deleted is not reported deleted before its server has exited', async () => {
  const d = new LocalDeployment();
  const sandbox = await d.create({ image: '', bundle: ctx.project, startupTimeoutMs: 120_000 });
  const deleting = d.delete(sandbox.id);
  try {
    // the server has been sent SIGTERM but cannot have exited yet: it may still accept a connection
    assert.is.not((await d.get(sandbox.id)).state, 'deleted');
    await deleting;
    assert.is((await d.get(sandbox.id)).state, 'deleted');
  } finally {
    await deleting.catch(() => undefined);
  }
});

test('a second delete() while the first is under way resolves only once the server has exited', async () => {
  const d = new LocalDeployment();
  const sandbox = await d.create({ image: '', bundle: ctx.project, startupTimeoutMs: 120_000 });
  const first = d.delete(sandbox.id);
  try {
    await d.delete(sandbox.id);
    assert.is((await d.get(sandbox.id)).state, 'deleted', 'the second delete() returned before the sandbox was gone');
    const refused = await RuntimeClient.connect(sandbox).then(
      async (c) => (await c.close(), 'connected'),
      () => 'refused',
    );
    assert.is(refused, 'refused');
  } finally {
    await first.catch(() => undefined);
  }
});

test('a sandbox past its lifetimeMs is deleted: its server is gone', async () => {
  const d = new LocalDeployment();
  const sandbox = await d.create({ image: '', bundle: ctx.project, lifetimeMs: 3000, startupTimeoutMs: 120_000 });
  try {
    assert.is((await d.get(sandbox.id)).state, 'running');
    assert.ok(await eventually(async () => (await d.get(sandbox.id)).state === 'deleted', 30_000), 'deleted at the end of its lifetime');
    const refused = await RuntimeClient.connect(sandbox).then(
      async (c) => (await c.close(), 'connected'),
      () => 'refused',
    );
    assert.is(refused, 'refused');
  } finally {
    await d.delete(sandbox.id);
  }
});

test.run();
