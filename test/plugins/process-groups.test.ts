/**
 * What a bash call starts ends with the call, through a real runtime
 * (`agentix serve` on the plugin fixture): background jobs of bash.run and
 * bash.stream are killed when the call returns, when the worker is SIGKILLed
 * (hung user code past its deadline: no hook of the worker runs then) and
 * when the server is stopped. bash.spawn is the way to keep a process
 * (background.test.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { RemoteError } from '../../index.js';
import { gone, readPid, serveFixture, type ServedFixture } from './helpers.js';

type RunResult = { exitCode: number | null; stdout: string; stderr: string; timedOut: boolean };
type StreamEvent = { stdout: string } | { stderr: string } | { exit: number | null; timedOut: boolean };

const test = suite<{ s?: ServedFixture }>('a bash call\'s process group ends with the call');

test.before(async (ctx) => {
  ctx.s = await serveFixture({ env: { AGENTIX_HANG_GRACE_MS: '200' } });
});
test.after(async (ctx) => {
  await ctx.s?.cleanup();
});

test('bash.run: a background job is killed when the call returns', async (ctx) => {
  const r = await ctx.s!.client.call<RunResult>('bash.run', ['sleep 60 & echo $!']);
  assert.is(r.exitCode, 0);
  assert.ok(await gone(Number(r.stdout.trim())), 'the background sleep outlived bash.run');
});

test('bash.stream: a background job is killed when the stream ends', async (ctx) => {
  let out = '';
  for await (const ev of ctx.s!.client.stream<StreamEvent>('bash.stream', ['sleep 60 & echo $!'])) if ('stdout' in ev) out += ev.stdout;
  assert.ok(await gone(Number(out.trim())), 'the background sleep outlived bash.stream');
});

test('a worker SIGKILLed while bash.run runs takes the command and its background jobs along', async (ctx) => {
  const { client, project } = ctx.s!;
  const pidFile = join(project, 'run.pid');
  const running = client.call<RunResult>('bash.run', [`sleep 60 & echo $! > ${pidFile}; sleep 60`]).then(() => undefined, (e: unknown) => e);
  const bg = await readPid(pidFile, 10_000);
  // Hung user code: past its deadline and the hang grace the server SIGKILLs the worker.
  const hung = await client.call('spin', [30_000], { timeoutMs: 300 }).then(() => undefined, (e: unknown) => e);
  assert.instance(hung, RemoteError);
  const err = (await running) as RemoteError;
  assert.instance(err, RemoteError);
  assert.is(err.code, 'WORKER_EXITED');
  assert.ok(await gone(bg, 5000), 'the background sleep outlived the SIGKILLed worker');
});

test('the server stopped (SIGTERM) while bash.run runs takes the command and its background jobs along', async (ctx) => {
  const { client, project, server } = ctx.s!;
  const pidFile = join(project, 'stop.pid');
  const running = client.call('bash.run', [`sleep 60 & echo $! > ${pidFile}; sleep 60`]).catch(() => undefined);
  const bg = await readPid(pidFile, 10_000);
  await server.stop('SIGTERM');
  await running;
  assert.ok(await gone(bg, 5000), 'the background sleep outlived the server');
});

test.run();
