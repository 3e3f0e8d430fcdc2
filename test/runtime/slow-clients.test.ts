/**
 * A client that does not read: what is queued for it is bounded (results,
 * items and output), the server stops reading from it, its dropped output is
 * reported with a marker, and once it makes no progress for the stuck timeout
 * it is disconnected with a reason. Over a real server process; memory from /proc.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { RuntimeClient, type LogEvent } from '../../index.js';
import { decode, encode } from '../../runtime/wire/codec.js';
import { CALL, LOG, RESULT } from '../../runtime/wire/protocol.js';
import { MiB, peakRss, rssOf } from '../support/proc.js';
import { rawSocket } from '../support/raw-socket.js';
import { eventually, repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const STUCK_MS = 2000;
let server: Served;
let probe: RuntimeClient;

const slow = suite('slow clients');
slow.before(async () => {
  server = await serve(project, { noGen: true, env: { AGENTIX_STUCK_CLIENT_MS: String(STUCK_MS) } });
  probe = await RuntimeClient.connect(server.url, { token: server.token });
});
slow.after(async () => {
  await probe?.close();
  await server?.stop();
});

const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: import('node:net').Socket })._socket;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

slow('a client that stops reading while 800 × 1 MiB results come back keeps server and worker memory bounded, then is disconnected with a reason', async () => {
  const workerPid = await probe.call<number>('pid', []);
  const before = [rssOf(server.child.pid!), rssOf(workerPid)];
  const ws = await rawSocket(server.url, server.token);
  const results: number[] = [];
  ws.on('message', (data: Buffer) => {
    const m = decode(data) as unknown[];
    if (m[0] === RESULT) results.push(Number(m[1]));
  });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  socketOf(ws).pause(); // reads nothing from now on
  for (let id = 1; id <= 800; id++) ws.send(encode([CALL, id, 0, 'makeBytes', [MiB]]));
  const { peaks } = await peakRss([server.child.pid!, workerPid], sleep(STUCK_MS - 500));
  // Without bounds both grew by the full 800 MiB (and more); with them, by the send queue plus what was running.
  assert.ok(peaks[0]! - before[0]! < 300 * MiB, `server grew by ${Math.round((peaks[0]! - before[0]!) / MiB)} MiB`);
  assert.ok(peaks[1]! - before[1]! < 300 * MiB, `worker grew by ${Math.round((peaks[1]! - before[1]!) / MiB)} MiB`);
  // Reading again once the server has certainly given up on it (it waits 5 s for the close frame to be read).
  await sleep(STUCK_MS + 1500);
  socketOf(ws).resume();
  const { code, reason } = await Promise.race([closed, sleep(10_000).then(() => ({ code: 0, reason: 'not closed within 10 s' }))]);
  assert.is(code, 1008);
  assert.match(reason, /read nothing for 2000 ms/);
  assert.ok(results.length < 800, `not everything was produced for it (${results.length} results)`);
  // Everyone else is unaffected, and the worker did not restart.
  assert.is(await probe.call<number>('pid', []), workerPid);
  assert.ok(await eventually(() => rssOf(server.child.pid!) - before[0]! < 200 * MiB, 10_000), 'the server released what it held');
});

slow('output written outside any call reaches an idle client only up to its bound, then a marker says what was dropped', async () => {
  const ws = await rawSocket(server.url, server.token);
  const logs: string[] = [];
  let bytes = 0;
  ws.on('message', (data: Buffer) => {
    const m = decode(data) as unknown[];
    if (m[0] === LOG && m[1] === 0) {
      bytes += String(m[3]).length;
      if (String(m[3]).startsWith('[agentix:')) logs.push(String(m[3]));
    }
  });
  socketOf(ws).pause();
  const before = rssOf(server.child.pid!);
  // A subprocess of the worker writes 64 KiB chunks to its stdout for 1.5 s: gigabytes if nothing bounded it.
  const { peaks } = await peakRss([server.child.pid!], probe.call('floodStdout', [1500]).then(() => sleep(1700)));
  assert.ok(peaks[0]! - before < 200 * MiB, `server grew by ${Math.round((peaks[0]! - before) / MiB)} MiB`);
  socketOf(ws).resume();
  assert.ok(await eventually(() => logs.length > 0, 5000), `a marker arrived (got ${bytes} bytes of output)`);
  assert.match(logs[0]!, /^\[agentix: \d+ bytes of output were dropped/);
  assert.ok(Number(/(\d+) bytes/.exec(logs[0]!)![1]) > 8 * MiB, 'it counts what was dropped');
  ws.close();
});

slow('console.log in a synchronous loop keeps the worker bounded and reports the lines it dropped', async () => {
  const client = await RuntimeClient.connect(server.url, { token: server.token });
  const markers: LogEvent[] = [];
  let logged = 0;
  client.on('log', (e) => {
    if (e.callId === 0) return; // output of earlier tests' subprocesses is not ours
    logged += e.text.length;
    if (e.text.startsWith('[agentix:')) markers.push(e);
  });
  try {
    const workerPid = await client.call<number>('pid', []);
    const before = rssOf(workerPid);
    // 300 000 lines of 1000 bytes in one synchronous loop: 300 MB the worker cannot send before the loop ends.
    const { result, peaks } = await peakRss([workerPid], client.call<number>('logLoop', [300_000, 1000]));
    assert.is(result, 300_000);
    assert.ok(peaks[0]! - before < 150 * MiB, `worker grew by ${Math.round((peaks[0]! - before) / MiB)} MiB`);
    assert.ok(await eventually(() => markers.length > 0, 5000), 'a marker arrived');
    assert.is(markers[0]!.target, 'logLoop', 'the marker belongs to the call');
    const dropped = Number(/(\d+) bytes/.exec(markers[0]!.text)![1]);
    assert.ok(dropped + logged >= 300_000 * 1001 * 0.99, `dropped ${dropped} + delivered ${logged} account for every byte`);
  } finally {
    await client.close();
  }
});

slow.run();
