/**
 * Bad input never takes the server down: wrong tokens, garbage, truncated and
 * oversized frames, unknown messages, and a few thousand random and mutated
 * frames. Each gets a PROTOCOL / PAYLOAD_TOO_LARGE error or a clean close of
 * that one socket, while other connections go on.
 */
import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { RemoteError, RuntimeClient } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import { CALL, CANCEL, CREDIT, ERROR, INBOX_ITEM, RESULT } from '../../runtime/wire/protocol.js';
import { nextMessage, rawSocket } from '../support/raw-socket.js';
import { alive, repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const LIMIT = 256 * 1024;
let server: Served;
let good: RuntimeClient;

const bad = suite('bad input');
bad.before(async () => {
  server = await serve(project, { noGen: true, env: { AGENTIX_MAX_PAYLOAD: String(LIMIT) } });
  good = await RuntimeClient.connect(server.url, { token: server.token });
});
bad.after(async () => {
  await good?.close();
  await server?.stop();
});

const errorOf = (msg: unknown[]) => msg[2] as { code: string; message: string };
const httpGet = (path: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const url = new URL(server.url.replace('ws:', 'http:'));
    const req = request({ host: url.hostname, port: url.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject).end();
  });

bad('a wrong token is UNAUTHENTICATED and no socket stays open', async () => {
  const err = (await RuntimeClient.connect(server.url, { token: 'wrong' }).catch((e) => e)) as RemoteError;
  assert.instance(err, RemoteError);
  assert.is(err.code, 'UNAUTHENTICATED');
  const none = (await RuntimeClient.connect(server.url, { token: '' }).catch((e) => e)) as RemoteError;
  assert.is(none.code, 'UNAUTHENTICATED');
  assert.is(await good.call('run', ['ok']), 'hello ok');
});

bad('/health answers without a token; other routes need it', async () => {
  const health = await httpGet('/health');
  assert.is(health.status, 200);
  assert.is(JSON.parse(health.body).ok, true);
  assert.is((await httpGet('/manifest')).status, 401);
  const manifest = await httpGet('/manifest', { authorization: `Bearer ${server.token}` });
  assert.is(manifest.status, 200);
  assert.ok(JSON.parse(manifest.body).targets.run);
});

bad('garbage, text frames, unknown types and malformed calls get PROTOCOL errors on a socket that stays usable', async () => {
  const ws = await rawSocket(server.url, server.token);
  try {
    ws.send(Buffer.from([0xc1, 0xff, 0x00]));
    assert.is(errorOf(await nextMessage(ws)).code, 'PROTOCOL');
    ws.send('hello as text');
    assert.is(errorOf(await nextMessage(ws)).code, 'PROTOCOL');
    // Errors about a frame, not a call, carry id 0: an id's one final message is its call's.
    ws.send(encode([99, 7]));
    const unknown = await nextMessage(ws);
    assert.equal([unknown[0], unknown[1], errorOf(unknown).code], [ERROR, 0, 'PROTOCOL']);
    assert.match(errorOf(unknown).message, /type 99.*call_id 7/);
    ws.send(encode([CALL, 8, 0, 42, 'not an array']));
    const malformed = await nextMessage(ws);
    assert.equal([malformed[1], errorOf(malformed).code], [8, 'PROTOCOL']);
    // A truncated CALL: its head is readable, the rest is cut off.
    const whole = encode([CALL, 9, 0, 'run', ['truncated']]);
    ws.send(whole.subarray(0, whole.length - 5));
    const truncated = await nextMessage(ws);
    assert.equal([truncated[1], errorOf(truncated).code], [9, 'PROTOCOL']);
    // The same socket still works.
    ws.send(encode([CALL, 10, 0, 'run', ['fine']]));
    assert.equal(await nextMessage(ws), [RESULT, 10, 'hello fine']);
  } finally {
    ws.close();
  }
});

bad('a duplicate call_id in flight is refused without disturbing the first call', async () => {
  const ws = await rawSocket(server.url, server.token);
  try {
    ws.send(encode([CALL, 5, 0, 'sleep', [200]]));
    ws.send(encode([CALL, 5, 0, 'run', ['dup']]));
    const first = await nextMessage(ws);
    assert.equal([first[0], first[1], errorOf(first).code], [ERROR, 0, 'PROTOCOL']);
    assert.match(errorOf(first).message, /call_id 5 is already in flight/);
    assert.equal(await nextMessage(ws), [RESULT, 5, 'slept 200']);
  } finally {
    ws.close();
  }
});

bad('a frame over the size limit is PAYLOAD_TOO_LARGE; a huge one closes only that socket', async () => {
  const ws = await rawSocket(server.url, server.token);
  ws.send(encode([CALL, 1, 0, 'echo', [new Uint8Array(LIMIT + 100)]]));
  const reply = await nextMessage(ws);
  assert.equal([reply[1], errorOf(reply).code], [1, 'PAYLOAD_TOO_LARGE']);
  // Results over the limit are refused too, by the worker, for that call only.
  const big = (await good.call('makeBytes', [LIMIT + 10]).catch((e) => e)) as RemoteError;
  assert.is(big.code, 'PAYLOAD_TOO_LARGE');
  assert.is(((await good.call('makeBytes', [LIMIT - 100])) as Uint8Array).length, LIMIT - 100);
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  ws.send(encode([CALL, 2, 0, 'echo', [new Uint8Array(LIMIT * 3)]]));
  assert.is(await closed, 1009);
  assert.is(await good.call('run', ['after']), 'hello after');
});

bad('a user error on one call does not lose another call\'s result', async () => {
  const [a, b, c] = await Promise.allSettled([good.call('run', ['a']), good.call('fail', ['boom']), good.call('run', ['c'])]);
  assert.equal(a, { status: 'fulfilled', value: 'hello a' });
  assert.is(b.status, 'rejected');
  assert.equal(c, { status: 'fulfilled', value: 'hello c' });
});

/** Deterministic random numbers, so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

bad('thousands of random and mutated frames: the server keeps answering everyone', async () => {
  const rand = rng(0xa6e7);
  const int = (n: number) => Math.floor(rand() * n);
  const seeds = [
    encode([CALL, 1, 0, 'run', ['seed']]),
    encode([CALL, 2, 1000, 'count', [3], { credit: 2 }]),
    encode([CALL, 3, 0, 'chat', ['> ']]),
    encode([INBOX_ITEM, 3, 'hello']),
    encode([CREDIT, 2, 10]),
    encode([CANCEL, 1]),
    encode([CALL, 4, 0, 'add', [1, 2]]),
    encode([CALL, 5, 0, 'echo', [{ a: [1, 2, { b: new Uint8Array(8) }] }]]),
  ];
  const mutate = (src: Buffer): Buffer => {
    const b = Buffer.from(src);
    switch (int(5)) {
      case 0: // flip a few bytes
        for (let k = 0; k < 1 + int(4); k++) b[int(b.length)] = int(256);
        return b;
      case 1: // truncate
        return b.subarray(0, int(b.length));
      case 2: // append junk
        return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256)))]);
      case 3: // random bytes with a plausible head
        return Buffer.concat([Buffer.from([0x90 | int(16), int(128), int(256)]), Buffer.from(Array.from({ length: int(64) }, () => int(256)))]);
      default: // pure noise
        return Buffer.from(Array.from({ length: 1 + int(128) }, () => int(256)));
    }
  };
  const FRAMES = 4000;
  let sockets: WebSocket[] = await Promise.all([0, 1, 2, 3].map(() => rawSocket(server.url, server.token)));
  for (let i = 0; i < FRAMES; i++) {
    const k = i % sockets.length;
    let ws = sockets[k]!;
    if (ws.readyState !== ws.OPEN) {
      ws = sockets[k] = await rawSocket(server.url, server.token);
    }
    ws.send(mutate(seeds[int(seeds.length)]!));
    if (i % 500 === 499) {
      // Every so often, a well-behaved client on another connection must still get its answer.
      assert.is(await good.call('run', [`check ${i}`], { timeoutMs: 10_000 }), `hello check ${i}`);
    }
  }
  await Promise.all(sockets.map((ws) => new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : (ws.once('close', () => r()), ws.close())))));
  sockets = [];
  assert.ok(alive(server.child.pid!), 'server alive');
  assert.is(await good.call('run', ['end'], { timeoutMs: 10_000 }), 'hello end');
  const c = good.bidi<string, string>('chat', ['~']);
  void c.send('still');
  c.close();
  const out: string[] = [];
  for await (const o of c) out.push(o);
  assert.equal(out, ['~still']);
});

bad.run();
