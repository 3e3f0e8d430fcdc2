/** User code that crashes, exits or hangs never takes the server down; the worker comes back. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient, type LogEvent } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import { CALL, ERROR } from '../../runtime/wire/protocol.js';
import { nextMessage, rawSocket } from '../support/raw-socket.js';
import { alive, eventually, repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
let server: Served;
let client: RuntimeClient;

const iso = suite('worker isolation');
iso.before(async () => {
  server = await serve(project, { noGen: true, env: { AGENTIX_HANG_GRACE_MS: '500' } });
  client = await RuntimeClient.connect(server.url, { token: server.token });
});
iso.after(async () => {
  await client?.close();
  await server?.stop();
});

async function expectRecovery(start: () => Promise<unknown>, codes: string[]): Promise<void> {
  const before = await client.call<number>('pid', []).catch(() => -1);
  const neighbour = client.call('sleep', [3000]).catch((e) => e);
  await new Promise((r) => setTimeout(r, 50));
  const err = (await start().catch((e) => e)) as RemoteError;
  assert.instance(err, RemoteError);
  assert.ok(codes.includes(err.code), `got ${err.code}: ${err.message}`);
  const n = (await neighbour) as RemoteError;
  assert.is(n.code, 'WORKER_EXITED', 'a call in flight beside the crash fails with WORKER_EXITED');
  // The next call is served by a new worker.
  assert.is(await client.call('run', ['again'], { timeoutMs: 10_000 }), 'hello again');
  const after = await client.call<number>('pid', []);
  assert.is.not(after, before);
  if (before > 0) assert.ok(await eventually(() => !alive(before)), 'the old worker is gone');
  assert.ok(alive(server.child.pid!), 'the server process is alive');
}

iso('process.exit in user code: WORKER_EXITED, then the next call works', async () => {
  await expectRecovery(() => client.call('exitNow', [3]), ['WORKER_EXITED']);
});

iso('an uncaught exception in a timer: WORKER_EXITED, then the next call works', async () => {
  await expectRecovery(() => client.call('throwInTimer', []), ['WORKER_EXITED']);
});

iso('a synchronous endless loop past its deadline: DEADLINE_EXCEEDED, worker replaced', async () => {
  await expectRecovery(() => client.call('spin', [], { timeoutMs: 200 }), ['DEADLINE_EXCEEDED']);
});

iso('a hung worker is also caught when the caller relies on the server deadline alone', async () => {
  // A raw socket that keeps no timer of its own: the answer must come from the server.
  const ws = await rawSocket(server.url, server.token);
  try {
    ws.send(encode([CALL, 1, 200, 'spin', []]));
    const reply = (await nextMessage(ws, 10_000)) as [number, number, { code: string }];
    assert.equal([reply[0], reply[1], reply[2].code], [ERROR, 1, 'DEADLINE_EXCEEDED']);
  } finally {
    ws.close();
  }
  assert.is(await client.call('run', ['ok'], { timeoutMs: 10_000 }), 'hello ok');
});

iso('the worker says why it died, and what the call logged just before reaches the caller', async () => {
  const logs: string[] = [];
  const onLog = (e: LogEvent) => logs.push(e.text);
  client.on('log', onLog);
  const err = (await client.call('exitNow', [7]).catch((e) => e)) as RemoteError;
  client.off('log', onLog);
  assert.is(err.code, 'WORKER_EXITED');
  assert.match(err.message, /code 7/);
  assert.match(logs.join(''), /exiting with 7/);
  assert.is(await client.call('run', ['x'], { timeoutMs: 10_000 }), 'hello x');
});

iso('output that looks like a pipe frame reaches the caller as text and never confuses the frame pipe', async () => {
  const logs: LogEvent[] = [];
  const onLog = (e: LogEvent) => logs.push(e);
  client.on('log', onLog);
  const before = await client.call<number>('pid', []);
  assert.is(await client.call('speak', ['hi']), 'spoke');
  await new Promise((r) => setTimeout(r, 50));
  client.off('log', onLog);
  assert.match(logs.map((l) => l.text).join(''), /raw bytes that look like a frame/);
  assert.is(await client.call<number>('pid', []), before, 'the worker was not judged to write a malformed frame');
});

iso.run();
