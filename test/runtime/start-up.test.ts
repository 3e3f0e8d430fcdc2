/**
 * What a runtime waits for before it answers /health: the project's own
 * module, not the plugins'. A run dir is written by hand here (manifest and
 * modules), with a "plugin" whose import never finishes, and served in this
 * process (its worker is a real subprocess).
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { processAlive } from '../../runtime/process-alive.js';
import { RuntimeServer } from '../../runtime/server/server.js';
import { startWorkerEarly, supervisorOptions, WorkerSupervisor } from '../../runtime/server/worker-supervisor.js';
import { eventually } from '../support/serve.js';
import { ProgressWriter } from '../../runtime/wire/progress.js';

const TOKEN = 'start-up-test-token';

/** A run dir with the given modules (id → source) and one unary target `fn` per module, named `<id>.fn` outside `app`. */
function runDir(modules: Record<string, string>): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-start-up-'));
  mkdirSync(join(dir, 'modules'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const targets: Record<string, object> = {};
  for (const [id, source] of Object.entries(modules)) {
    writeFileSync(join(dir, 'modules', `${id}.js`), source);
    targets[id === 'app' ? 'fn' : `${id}.fn`] = { module: id, export: 'fn', shape: 'unary', params: [] };
  }
  const manifest = { agentix: 1, modules: Object.fromEntries(Object.keys(modules).map((id) => [id, `src/${id}.ts`])), targets };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const NEVER_LOADS = 'await new Promise(() => setInterval(() => {}, 60_000));\nexport function fn() { return "never"; }\n';

const startUp = suite('runtime start-up');

startUp('a plugin module whose import never finishes does not hold back the start: the project answers, the plugin call times out alone', async () => {
  const run = runDir({
    app: 'export function fn() { return "app answered"; }\n',
    stuck: NEVER_LOADS,
    later: 'export function fn() { return "later answered"; }\n',
  });
  const server = new RuntimeServer({ runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 5_000 });
  try {
    const { url } = await server.listen();
    const client = await RuntimeClient.connect(url, { token: TOKEN });
    try {
      assert.is(await client.call('fn', []), 'app answered');
      assert.is(await client.call('later.fn', []), 'later answered', 'a plugin loaded after the start answers');
      const stuck = (await client.call('stuck.fn', [], { timeoutMs: 300 }).catch((e) => e)) as RemoteError;
      assert.is(stuck.code, 'DEADLINE_EXCEEDED');
    } finally {
      await client.close();
    }
  } finally {
    await server.close();
    run.remove();
  }
});

startUp("the first call of the project's own function does not queue behind the plugins' warm-up", async () => {
  // a plugin whose import keeps the worker's thread busy for 3 s: warmed before the first call, it would
  // make that call miss its deadline (or get the worker judged hung); warmed after it, nobody waits
  const run = runDir({
    app: 'export function fn() { return "app answered"; }\n',
    heavy: 'const end = Date.now() + 3000; while (Date.now() < end);\nexport function fn() { return "heavy"; }\n',
  });
  const server = new RuntimeServer({ runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 5_000 });
  try {
    const { url } = await server.listen();
    const client = await RuntimeClient.connect(url, { token: TOKEN });
    try {
      assert.is(await client.call('fn', [], { timeoutMs: 1_500 }), 'app answered');
    } finally {
      await client.close();
    }
  } finally {
    await server.close();
    run.remove();
  }
});

startUp("the project's own module is still imported before the start: one that never finishes fails it", async () => {
  const run = runDir({ app: NEVER_LOADS, plugin: 'export function fn() { return 1; }\n' });
  const server = new RuntimeServer({ runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 1_500 });
  let listening = false;
  try {
    // a failed listen stops the worker and the HTTP server itself
    const err = (await server.listen().then(() => (listening = true)).catch((e) => e)) as Error;
    assert.instance(err, Error);
    assert.match(err.message, /not ready within 1500 ms/);
  } finally {
    if (listening) await server.close();
    run.remove();
  }
});

startUp('close() after a failed listen() resolves: a caller may close in a finally whatever listen() did', async () => {
  const run = runDir({ app: NEVER_LOADS });
  const server = new RuntimeServer({ runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 300 });
  try {
    const err = (await server.listen().catch((e) => e)) as Error;
    assert.match(err.message, /not ready within 300 ms/);
    await server.close(); // before: EBADF, the worker's progress ring closed a second time
  } finally {
    run.remove();
  }
});

const PID_APP = 'export function fn() { return process.pid; }\n';

/** Listens and has `fn` of a PID_APP run dir called once: the pid of the worker that ran it. */
async function servingPid(server: RuntimeServer): Promise<number> {
  const { url } = await server.listen();
  const client = await RuntimeClient.connect(url, { token: TOKEN });
  try {
    return await client.call<number>('fn', []);
  } finally {
    await client.close();
  }
}

// runServer (server/main.ts) starts the worker before it loads the server's modules; the server takes it over.
startUp('a server takes over the worker started early with its options: the same process serves, ready before listen() was called', async () => {
  const run = runDir({ app: PID_APP });
  const opts = { runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 5_000 };
  const early = startWorkerEarly(opts);
  let server: RuntimeServer | undefined;
  try {
    assert.ok(await eventually(() => early.ready, 10_000), 'the early worker became ready');
    const pid = early.pid!;
    server = new RuntimeServer(opts);
    assert.is(await servingPid(server), pid, 'the call ran in the early worker');
  } finally {
    if (server) await server.close();
    else early.killNow();
    run.remove();
  }
});

startUp('an early worker started with other options is stopped, and the server starts its own', async () => {
  const run = runDir({ app: PID_APP });
  const opts = { runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 5_000 };
  const early = startWorkerEarly({ ...opts, env: { SOMETHING: 'else' } });
  let server: RuntimeServer | undefined;
  try {
    assert.ok(await eventually(() => early.pid !== undefined, 10_000), 'the early worker was spawned');
    const pid = early.pid!;
    server = new RuntimeServer(opts);
    assert.ok(await eventually(() => !processAlive(pid), 10_000), 'the mismatched early worker was stopped');
    assert.is.not(await servingPid(server), pid);
  } finally {
    early.killNow();
    if (server) await server.close();
    run.remove();
  }
});

startUp('an early worker stopped before its server was made (a failed start) is not taken over: the server starts its own', async () => {
  // runServer kills its early worker when the server cannot be made (a bad manifest); a server made
  // afterwards with the same options must not take that dead worker over and wait for it to be ready
  const run = runDir({ app: PID_APP });
  const opts = { runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 5_000 };
  const early = startWorkerEarly(opts);
  let server: RuntimeServer | undefined;
  try {
    assert.ok(await eventually(() => early.pid !== undefined, 10_000), 'the early worker was spawned');
    const pid = early.pid!;
    early.killNow();
    server = new RuntimeServer(opts);
    assert.is.not(await servingPid(server), pid);
  } finally {
    await server?.close(); // also after a failed listen (it stopped the worker and the HTTP server itself)
    run.remove();
  }
});

startUp('an early worker that broke before the server listened fails listen() at once with the reason', async () => {
  const run = runDir({ app: 'process.exit(3);\n' });
  const opts = { runDir: run.dir, token: TOKEN, port: 0, host: '127.0.0.1', workerStartTimeoutMs: 60_000 };
  const early = startWorkerEarly(opts);
  let listening = false;
  let server: RuntimeServer | undefined;
  try {
    assert.ok(await eventually(() => early.broken !== undefined, 10_000), 'the worker counted as broken');
    server = new RuntimeServer(opts);
    const err = (await server.listen().then(() => (listening = true)).catch((e) => e)) as Error;
    assert.instance(err, Error);
    assert.match(err.message, /died 3 times before it was ready \(worker exited with code 3\)/);
  } finally {
    if (listening) await server?.close();
    early.killNow();
    run.remove();
  }
});

startUp('a stopped supervisor says "unknown" of a call, and does not read its closed progress ring\'s descriptor number, now another file\'s', async () => {
  // the worker's 'exit' can reach the server after stop() (the pipe's last bytes), and the server then asks
  // whether each call in flight had started: reading the number again would read whatever file has it now
  const run = runDir({ app: PID_APP });
  const worker = new WorkerSupervisor(supervisorOptions({ runDir: run.dir }));
  let other: number | undefined;
  try {
    worker.start();
    assert.ok(await eventually(() => worker.ready, 10_000), 'the worker became ready');
    const ring = (worker as unknown as { progressFd: number }).progressFd;
    await worker.stop();
    other = openSync(join(run.dir, 'other-file'), 'w+');
    assert.is(other, ring, 'precondition: the lowest free descriptor number is reused');
    new ProgressWriter(other).handledUpTo(1_000_000); // that file now says "every call up to 10^6 started"
    assert.is(worker.started(5), undefined);
    assert.is(worker.frameworkWork(), undefined);
  } finally {
    if (other !== undefined) closeSync(other);
    worker.killNow();
    run.remove();
  }
});

startUp.run();
