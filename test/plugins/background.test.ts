/**
 * Background commands (bash.spawn, bash.output, bash.attach, bash.kill,
 * bash.list) through a real runtime (`agentix serve` on the plugin
 * fixture): a spawned command outlives its call, the client's connection
 * and the worker; its output ring is bounded and counts what it dropped;
 * nothing is left behind when the server goes. Every wait is bounded.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteError, RuntimeClient } from '../../index.js';
import { eventually } from '../support/serve.js';
import { gone, isRunning, serveFixture, type ServedFixture } from './helpers.js';

type ExitStatus = { exitCode: number | null; signal?: string; timedOut: boolean; durationMs: number };
type Chunk = { stdout: string } | { stderr: string };
type OutputResult = { chunks: Chunk[]; next: number; dropped: number; exited?: ExitStatus };
type SpawnInfo = { id: string; command: string; pid: number; startedAt: number; running: boolean; bytes: number; dropped: number; exited?: ExitStatus };
type Spawned = { id: string; pid: number };

const test = suite<{ s?: ServedFixture }>('background commands through agentix serve');
const c = (ctx: { s?: ServedFixture }) => ctx.s!.client;

const text = (chunks: Chunk[], stream: 'stdout' | 'stderr') => chunks.map((ch) => (stream in ch ? (ch as Record<string, string>)[stream] : '')).join('');

/** Reads a command's output to its end (long polls, bounded by `withinMs`). */
async function readToEnd(client: RuntimeClient, id: string, withinMs = 15_000): Promise<{ chunks: Chunk[]; exited: ExitStatus; dropped: number }> {
  const chunks: Chunk[] = [];
  let since = 0;
  let dropped = 0;
  const deadline = Date.now() + withinMs;
  for (;;) {
    const r = await client.call<OutputResult>('bash.output', [id, { since, waitMs: 1000 }]);
    chunks.push(...r.chunks);
    dropped += r.dropped;
    since = r.next;
    if (r.exited) return { chunks, exited: r.exited, dropped };
    if (Date.now() > deadline) throw new Error(`${id} did not end within ${withinMs} ms`);
  }
}

/** The parent pid of a process (from /proc), or undefined when it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

async function remoteError(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.instance(err, RemoteError, `expected a RemoteError, got ${String(err)}`);
  return err as RemoteError;
}

test.before(async (ctx) => {
  ctx.s = await serveFixture();
});
test.after(async (ctx) => {
  await ctx.s?.cleanup();
});

test('bash.spawn returns at once; bash.attach follows the output in order to the exit', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three; exit 3']);
  assert.type(sp.id, 'string');
  assert.ok(isRunning(sp.pid), 'bash.spawn returned before bash ran');
  const items: OutputResult[] = [];
  for await (const r of c(ctx).stream<OutputResult>('bash.attach', [sp.id], { timeoutMs: 15_000 })) items.push(r);
  const chunks = items.flatMap((r) => r.chunks);
  assert.equal(chunks, [{ stdout: 'one\n' }, { stderr: 'two\n' }, { stdout: 'three\n' }]);
  assert.ok(items.length >= 3, `the output came in one piece (${items.length} item), not as it happened`);
  assert.is(items[items.length - 1]!.exited?.exitCode, 3);
  assert.is(items[items.length - 1]!.next, 14);
  // Read again from an offset: the rest only, and the exit.
  const again = await c(ctx).call<OutputResult>('bash.output', [sp.id, { since: 4 }]);
  assert.equal(again.chunks, [{ stderr: 'two\n' }, { stdout: 'three\n' }]);
  assert.is(again.exited?.exitCode, 3);
});

test('a spawned command outlives its call and the client connection that started it', async (ctx) => {
  const other = await RuntimeClient.connect(ctx.s!.server.url, { token: ctx.s!.server.token });
  // It waits for a file the test makes only after the connection is gone (bounded by its timeoutMs).
  const sp = await other.call<Spawned>('bash.spawn', ['while [ ! -e go-1 ]; do sleep 0.05; done; echo still here', { timeoutMs: 30_000 }]);
  await other.close();
  assert.ok(isRunning(sp.pid), 'the command ended with the connection');
  writeFileSync(join(ctx.s!.project, 'go-1'), '');
  const { chunks, exited } = await readToEnd(c(ctx), sp.id);
  assert.is(text(chunks, 'stdout'), 'still here\n');
  assert.equal([exited.exitCode, exited.timedOut], [0, false]);
});

test('a spawned command outlives a worker restart; its output and exit status are still there', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['echo before; while [ ! -e go-2 ]; do sleep 0.05; done; echo after', { timeoutMs: 60_000 }]);
  const before = await c(ctx).call<number>('workerPid', []);
  const crash = await remoteError(c(ctx).call('crash', []));
  assert.is(crash.code, 'WORKER_EXITED');
  const after = await c(ctx).call<number>('workerPid', []);
  assert.is.not(after, before, 'the worker was not restarted');
  assert.ok(isRunning(sp.pid), 'the command died with the worker');
  writeFileSync(join(ctx.s!.project, 'go-2'), '');
  const { chunks, exited } = await readToEnd(c(ctx), sp.id);
  assert.is(text(chunks, 'stdout'), 'before\nafter\n');
  assert.equal([exited.exitCode, exited.timedOut], [0, false]);
});

test('the output buffer keeps the newest bufferBytes and counts the bytes it dropped', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', [`printf '%*s' 10000 '' | tr ' ' a; printf END`, { bufferBytes: 1024 }]);
  // Read only once it is over: what a reader took meanwhile would not be dropped.
  assert.ok(await eventually(async () => !(await c(ctx).call<SpawnInfo[]>('bash.list', [])).find((x) => x.id === sp.id)?.running, 10_000), 'it did not end');
  const { chunks, exited, dropped } = await readToEnd(c(ctx), sp.id);
  assert.is(exited.exitCode, 0);
  const out = text(chunks, 'stdout');
  assert.is(out.length, 1024);
  assert.ok(out.endsWith('aaaEND'), out.slice(-10));
  assert.is(dropped, 10003 - 1024);
  const info = (await c(ctx).call<SpawnInfo[]>('bash.list', [])).find((x) => x.id === sp.id)!;
  assert.equal([info.bytes, info.dropped, info.running], [10003, 10003 - 1024, false]);
});

test('bash.kill ends the whole group; with a signal it sends only that signal', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['sleep 30 & echo $!; wait']);
  let first: OutputResult;
  do first = await c(ctx).call<OutputResult>('bash.output', [sp.id, { waitMs: 2000 }]);
  while (first.chunks.length === 0 && !first.exited);
  const bg = Number(text(first.chunks, 'stdout').trim());
  const info = await c(ctx).call<SpawnInfo>('bash.kill', [sp.id]);
  assert.is(info.running, false);
  assert.is(info.exited?.signal, 'SIGTERM');
  assert.ok(await gone(bg), 'the background sleep of the killed command still runs');

  const trapped = await c(ctx).call<Spawned>('bash.spawn', [`trap 'echo got INT; exit 5' INT; echo ready; while :; do sleep 0.05; done`]);
  let ready: OutputResult;
  do ready = await c(ctx).call<OutputResult>('bash.output', [trapped.id, { waitMs: 2000 }]);
  while (ready.chunks.length === 0 && !ready.exited);
  const sent = await c(ctx).call<SpawnInfo>('bash.kill', [trapped.id, 'SIGINT']);
  assert.is(sent.id, trapped.id);
  const { chunks, exited } = await readToEnd(c(ctx), trapped.id);
  assert.is(text(chunks, 'stdout'), 'ready\ngot INT\n');
  assert.is(exited.exitCode, 5);
});

test('timeoutMs kills a spawned command and its exit says timedOut', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['echo started; sleep 30', { timeoutMs: 300 }]);
  const { chunks, exited } = await readToEnd(c(ctx), sp.id);
  assert.is(text(chunks, 'stdout'), 'started\n');
  assert.equal([exited.timedOut, exited.exitCode, exited.signal], [true, null, 'SIGTERM']);
});

test('bash.list shows running and finished commands, oldest first; an unknown id is ENOENT', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['sleep 30']);
  const all = await c(ctx).call<SpawnInfo[]>('bash.list', []);
  const mine = all.find((x) => x.id === sp.id);
  assert.ok(mine, 'the new command is not listed');
  assert.equal([mine!.command, mine!.pid, mine!.running], ['sleep 30', sp.pid, true]);
  assert.ok(all.some((x) => !x.running), 'finished commands are not listed');
  assert.equal(all.map((x) => x.startedAt), all.map((x) => x.startedAt).sort((a, b) => a - b));
  await c(ctx).call('bash.kill', [sp.id]);
  const missing = await remoteError(c(ctx).call('bash.output', ['no-such-id']));
  assert.is(missing.data?.code, 'ENOENT');
  assert.match(missing.message, 'no background command "no-such-id"');
});

test('bad arguments are clear errors', async (ctx) => {
  assert.is((await remoteError(c(ctx).call('bash.spawn', [42]))).code, 'INVALID_ARGUMENT');
  const buffer = await remoteError(c(ctx).call('bash.spawn', ['true', { bufferBytes: 0 }]));
  assert.match(buffer.message, 'opts.bufferBytes must be a whole number of bytes from 1 to');
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['printf abc']);
  await readToEnd(c(ctx), sp.id);
  const past = await remoteError(c(ctx).call('bash.output', [sp.id, { since: 10 }]));
  assert.is(past.data?.code, 'EINVAL');
  assert.match(past.message, 'is past the end of the output');
  const signal = await remoteError(c(ctx).call('bash.kill', [sp.id, 'SIGNOPE']));
  assert.match(signal.message, 'signal must be a signal name');
});

test('a keeper that is SIGKILLed takes its commands along; the next spawn starts a new one', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['exec sleep 60']);
  const keeper = parentOf(sp.pid);
  assert.ok(keeper !== undefined && isRunning(keeper), 'no keeper process');
  process.kill(keeper!, 'SIGKILL');
  assert.ok(await gone(sp.pid, 5000), 'the command outlived its keeper');
  const again = await c(ctx).call<Spawned>('bash.spawn', ['echo new keeper']);
  const { chunks } = await readToEnd(c(ctx), again.id);
  assert.is(text(chunks, 'stdout'), 'new keeper\n');
  assert.is.not(parentOf(again.pid) ?? -1, keeper);
});

test('when the server stops (SIGTERM), every spawned command, the keeper and its state directory go', async (ctx) => {
  const sp = await c(ctx).call<Spawned>('bash.spawn', ['sleep 60']);
  const keeper = parentOf(sp.pid)!;
  const worker = await c(ctx).call<number>('workerPid', []);
  const serverPid = parentOf(worker)!;
  const argv = readFileSync(`/proc/${keeper}/cmdline`, 'latin1').split('\0');
  const stateDir = argv[argv.indexOf('--agentix-bash-keeper') + 1]!;
  assert.ok(stateDir.startsWith(join(tmpdir(), `agentix-bash-${serverPid}-`)), `state dir ${stateDir}`);
  assert.ok(existsSync(stateDir));
  await ctx.s!.server.stop('SIGTERM');
  assert.ok(await gone(sp.pid, 5000), 'the spawned command outlived the server');
  assert.ok(await gone(keeper, 5000), 'the keeper outlived the server');
  assert.not.ok(existsSync(stateDir), 'the state directory is still there');
});

test.run();
