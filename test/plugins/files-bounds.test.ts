/**
 * The files plugin stays within bounds on input built to break it, through
 * a real runtime (`agentix serve` on the plugin fixture, files root "/" as
 * in a task image without WORKDIR): a read stops at its limit while
 * reading, whatever stat says; path resolution is linear and bounded; an
 * upload stops when its call is cancelled or its deadline passes.
 *
 * The worker gets an address-space limit first (prlimit on itself through
 * bash.run), so that a regression fails this test with a dead worker
 * instead of eating the machine's memory.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemoteError } from '../../index.js';
import { makeTar, serveFixture, withTempDir, type ServedFixture } from './helpers.js';

type RunResult = { exitCode: number | null; stdout: string; stderr: string };

const test = suite<{ s?: ServedFixture; worker?: number }>('files: reads, paths and uploads stay within bounds');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function remoteError(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.instance(err, RemoteError, `expected a RemoteError, got ${String(err)}`);
  return err as RemoteError;
}

test.before(async (ctx) => {
  ctx.s = await serveFixture({ env: { AGENTIX_FILES_ROOT: '/' } });
  // 2 GiB more address space than the worker has now: plenty for the tests, fatal for an unbounded read.
  const r = await ctx.s.client.call<RunResult>('bash.run', [
    'vm=$(sed -n "s/^VmSize:[[:space:]]*\\([0-9]*\\) kB/\\1/p" /proc/$PPID/status); prlimit --pid $PPID --as=$(( (vm + 2 * 1024 * 1024) * 1024 )) && echo $PPID',
  ]);
  assert.is(r.exitCode, 0, `prlimit failed: ${r.stderr}`);
  ctx.worker = Number(r.stdout.trim());
});
test.after(async (ctx) => {
  await ctx.s?.cleanup();
});

test('files.read of a file whose stat size is wrong (/proc/self/pagemap) stops at the limit while reading', async (ctx) => {
  const { client } = ctx.s!;
  const limit = await remoteError(client.call('files.read', ['/proc/self/pagemap'], { timeoutMs: 30_000 }));
  assert.is(limit.data?.code, 'PAYLOAD_TOO_LARGE', limit.message);
  assert.match(limit.message, 'file "/proc/self/pagemap" is larger than the runtime\'s message limit');
  // The worker lived through it: same process, still answering.
  assert.is(await client.call('workerPid', []), ctx.worker);
  // A file whose size is right but small still reads whole.
  assert.is(Buffer.from(await client.call<Uint8Array>('files.read', ['/proc/self/stat'])).toString().split(' ')[0], String(ctx.worker));
});

test('a path through 1000 directories and 600 missing ones resolves at once (linear), not after its deadline', async (ctx) => {
  await withTempDir(async (dir) => {
    const deep = join(dir, ...Array<string>(1000).fill('d'));
    mkdirSync(deep, { recursive: true });
    const path = join(deep, ...Array<string>(600).fill('m'), 'file');
    const read = await remoteError(ctx.s!.client.call('files.read', [path], { timeoutMs: 10_000 }));
    assert.is(read.data?.code, 'ENOENT', read.message);
    const write = await remoteError(ctx.s!.client.call('files.write', [path, 'x', { mkdirs: false }], { timeoutMs: 10_000 }));
    assert.is(write.data?.code, 'ENOENT', write.message);
    assert.equal(await ctx.s!.client.call('files.write', [join(deep, 'here.txt'), 'deep'], { timeoutMs: 10_000 }), { bytes: 4 });
  });
});

test('resolution is bounded: symlinks that expand past 8192 steps, or loop, are refused', async (ctx) => {
  await withTempDir(async (dir) => {
    writeFileSync(join(dir, 'file'), 'content');
    // Each link's target is 2000 "./" then the next link: five of them are 10,000 steps.
    for (let i = 1; i <= 5; i++) symlinkSync(`${'./'.repeat(2000)}${i === 5 ? 'file' : `l${i + 1}`}`, join(dir, `l${i}`));
    symlinkSync('loop', join(dir, 'loop'));
    const long = await remoteError(ctx.s!.client.call('files.read', [join(dir, 'l1')], { timeoutMs: 10_000 }));
    assert.is(long.data?.code, 'ENAMETOOLONG', long.message);
    assert.match(long.message, 'more than 8192 steps');
    const loop = await remoteError(ctx.s!.client.call('files.read', [join(dir, 'loop')], { timeoutMs: 10_000 }));
    assert.is(loop.data?.code, 'ELOOP', loop.message);
    // Four of those links are fine.
    assert.is(Buffer.from(await ctx.s!.client.call<Uint8Array>('files.read', [join(dir, 'l2')])).toString(), 'content');
  });
});

test('files.upload stops when its deadline passes or its call is cancelled', async (ctx) => {
  const { client } = ctx.s!;
  const tar = await makeTar(Array.from({ length: 40_000 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
  await withTempDir(async (dir) => {
    const count = (sub: string) => {
      try {
        return readdirSync(join(dir, sub)).length;
      } catch {
        return 0;
      }
    };
    const deadline = await remoteError(client.call('files.upload', [join(dir, 'by-deadline'), tar], { timeoutMs: 300 }));
    assert.is(deadline.code, 'DEADLINE_EXCEEDED');
    const ac = new AbortController();
    const pending = client.call('files.upload', [join(dir, 'by-cancel'), tar], { signal: ac.signal });
    await sleep(300);
    ac.abort();
    assert.is((await remoteError(pending)).code, 'CANCELLED');
    // Whatever was done by then stays; nothing more is added afterwards.
    await sleep(500);
    const then = [count('by-deadline'), count('by-cancel')];
    await sleep(1500);
    assert.equal([count('by-deadline'), count('by-cancel')], then, 'the extraction went on after the call ended');
    assert.ok(then.every((n) => n < 40_000), `${then} files: the upload ran to its end`);
    // The worker is free again.
    assert.is(await client.call('ping', []), 'pong');
  });
});

test.run();
