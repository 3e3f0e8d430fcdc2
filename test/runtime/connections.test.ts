/**
 * The server's doors, over a real server process: authentication, the HTTP
 * routes and their methods, connections that never send a request, frames
 * that must not reach the worker, and bounds that hold over all connections
 * together (incomplete messages, decoded size).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { RuntimeClient } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import { CALL, ERROR, W_CLOSED, W_FAIL, W_PAUSE } from '../../runtime/wire/protocol.js';
import { MiB, peakRss, rssOf } from '../support/proc.js';
import { nextMessage, rawSocket } from '../support/raw-socket.js';
import { repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const REQUEST_TIMEOUT_MS = 500;
const MAX_PAYLOAD = 8 * MiB;
let server: Served;
let probe: RuntimeClient;
let port: number;

const doors = suite('connections');
doors.before(async () => {
  server = await serve(project, { noGen: true, env: { AGENTIX_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), AGENTIX_MAX_PAYLOAD: String(MAX_PAYLOAD) } });
  port = Number(new URL(server.url).port);
  probe = await RuntimeClient.connect(server.url, { token: server.token });
});
doors.after(async () => {
  await probe?.close();
  await server?.stop();
});

function http(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject).on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end();
  });
}

function openWs(headers: Record<string, string>): Promise<'open' | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(server.url, { headers, perMessageDeflate: false });
    ws.once('open', () => (ws.close(), resolve('open')));
    ws.once('unexpected-response', (_req, res) => (res.resume(), resolve(res.statusCode!)));
    ws.once('error', () => undefined);
  });
}

const silent = (): Promise<Socket> => new Promise((resolve, reject) => {
  const s = tcpConnect(port, '127.0.0.1', () => resolve(s));
  s.on('error', reject);
});
const closedWithin = (s: Socket, ms: number) => new Promise<boolean>((resolve) => {
  if (s.destroyed) return resolve(true);
  const t = setTimeout(() => resolve(false), ms);
  s.once('close', () => (clearTimeout(t), resolve(true)));
});

doors('messages of every WebSocket length form reach the client whole and in order (small ones are framed by the server itself)', async () => {
  // 7-bit, 16-bit and 64-bit payload lengths, the 64 KiB edge where the server hands a message to ws instead, mixed.
  const sizes = [1, 120, 125, 126, 127, 300, 65_520, 65_535, 65_536, 70_000, 3, 200_000, 10];
  const c = probe.bidi<string, string>('chat', ['']);
  const items = sizes.map((n, i) => String.fromCharCode(97 + (i % 26)).repeat(n));
  for (const item of items) c.send(item);
  c.close();
  const got: string[] = [];
  for await (const x of c) got.push(x);
  assert.equal(got.map((x) => x.length), sizes);
  assert.ok(got.every((x, i) => x === items[i]), 'every item came back byte for byte');
});

doors('the Bearer scheme is case-insensitive; a wrong token is refused with 401', async () => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) assert.is(await openWs({ authorization: `${scheme} ${server.token}` }), 'open', scheme);
  assert.is(await openWs({ authorization: `Bearer ${server.token}x` }), 401);
  assert.is(await openWs({ authorization: `Basic ${server.token}` }), 401);
  assert.is(await openWs({}), 401);
});

doors('/health and /manifest answer GET and HEAD only; other methods get 405 with Allow', async () => {
  assert.is((await http('GET', '/health')).status, 200);
  const head = await http('HEAD', '/health');
  assert.equal([head.status, head.body], [200, '']);
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await http(method, '/health');
    assert.is(r.status, 405, method);
    assert.is(r.headers.allow, 'GET, HEAD');
    assert.is((await http(method, '/manifest', { authorization: `Bearer ${server.token}` })).status, 405);
  }
  assert.is((await http('GET', '/manifest')).status, 401, 'the manifest needs the token');
  assert.is((await http('GET', '/manifest', { authorization: `bearer ${server.token}` })).status, 200);
});

doors('connections that never send a byte are closed after the request timeout, and 300 of them do not lock out /health or a client', async () => {
  const one = await silent();
  assert.ok(await closedWithin(one, REQUEST_TIMEOUT_MS * 4), 'a silent connection is closed');
  const flood = await Promise.all(Array.from({ length: 300 }, silent));
  try {
    assert.is((await http('GET', '/health')).status, 200, '/health answers during the flood');
    const c = await RuntimeClient.connect(server.url, { token: server.token });
    assert.is(await c.call('run', ['through']), 'hello through');
    await c.close();
    const closed = await Promise.all(flood.map((s) => closedWithin(s, REQUEST_TIMEOUT_MS * 4)));
    assert.ok(closed.every(Boolean), `${closed.filter((x) => !x).length} silent connections are still open`);
  } finally {
    for (const s of flood) s.destroy();
  }
});

doors('server-to-worker message types sent by a client are PROTOCOL errors and never reach the worker', async () => {
  const before = await probe.call<number>('pid', []);
  const ws = await rawSocket(server.url, server.token);
  try {
    for (const type of [W_CLOSED, W_PAUSE, W_FAIL, 40, 43]) {
      ws.send(encode([type, 1, { code: 'CANCELLED', message: 'x', name: 'x' }]));
      const m = await nextMessage(ws);
      assert.equal([m[0], Number(m[1]), (m[2] as { code: string }).code], [ERROR, 0, 'PROTOCOL'], `type ${type}`);
    }
    assert.is(await probe.call<number>('pid', []), before);
  } finally {
    ws.terminate();
  }
});

doors('a small CALL of empty arrays is refused before the worker decodes it; the worker and other connections go on', async () => {
  const before = await probe.call<number>('pid', []);
  const ws = await rawSocket(server.url, server.token);
  try {
    // 7 MiB (under the 8 MiB limit) of empty arrays.
    const n = 7 * MiB;
    const args = Buffer.alloc(n + 5, 0x90);
    args[0] = 0xdd;
    args.writeUInt32BE(n, 1);
    const frame = Buffer.concat([Buffer.from([0x95]), encode([CALL, 9, 0, 'memory']).subarray(1), Buffer.from([0x91]), args]);
    ws.send(frame);
    const m = await nextMessage(ws, 20_000);
    assert.equal([m[0], Number(m[1]), (m[2] as { code: string }).code], [ERROR, 9, 'PAYLOAD_TOO_LARGE']);
    assert.is(await probe.call<number>('pid', []), before, 'the worker did not die');
  } finally {
    ws.terminate();
  }
});

doors('messages in progress on many connections are bounded together, and every one completes', async () => {
  // Twelve clients each send a message of 15 MiB (under twice the 8 MiB limit, so it is read whole) in slow pieces.
  const before = rssOf(server.child.pid!);
  const sockets = await Promise.all(Array.from({ length: 12 }, () => rawSocket(server.url, server.token)));
  const answers = sockets.map((ws) => nextMessage(ws, 60_000));
  const big = Buffer.concat([Buffer.from([0x95]), encode([CALL, 1, 0, 'bytesLength']).subarray(1), Buffer.from([0x91, 0xc6]), u32(15 * MiB), Buffer.alloc(15 * MiB, 1)]);
  const sendSlowly = async (ws: WebSocket) => {
    const socket = (ws as unknown as { _socket: Socket })._socket;
    // One frame, written in 1 MiB pieces: the server holds the partial message until the last piece.
    const header = wsFrameHeader(big.length);
    const mask = Buffer.from([0, 0, 0, 0]); // a zero mask leaves the payload as it is
    socket.write(Buffer.concat([header, mask]));
    for (let off = 0; off < big.length; off += MiB) {
      if (!socket.write(big.subarray(off, off + MiB))) await new Promise((r) => socket.once('drain', r));
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const { peaks } = await peakRss([server.child.pid!], Promise.all(sockets.map(sendSlowly)).then(() => Promise.all(answers)));
  const replies = await Promise.all(answers);
  for (const m of replies) assert.equal([m[0], Number(m[1]), (m[2] as { code: string }).code], [ERROR, 1, 'PAYLOAD_TOO_LARGE'], 'each message arrived whole and was judged');
  // Unbounded: 12 × 15 MiB = 180 MiB held at once (twice that while ws joins the pieces). The budget is 2 × (2 × 8 MiB) + 16 MiB = 48 MiB.
  assert.ok(peaks[0]! - before < 150 * MiB, `server grew by ${Math.round((peaks[0]! - before) / MiB)} MiB`);
  for (const ws of sockets) ws.terminate();
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A masked binary WebSocket frame header (RFC 6455 §5.2) for a payload of `length` bytes, without the mask key. */
function wsFrameHeader(length: number): Buffer {
  const h = Buffer.alloc(10);
  h[0] = 0x82; // FIN, binary
  h[1] = 0x80 | 127; // masked, 64-bit length
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

doors.run();
