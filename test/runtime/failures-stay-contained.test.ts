/**
 * Ways one caller could crash the server or the shared worker, and so fail
 * everybody else's calls: each stays contained to the call that caused it.
 */
import { connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import { ERROR, RESULT } from '../../runtime/wire/protocol.js';
import { nextMessage, rawSocket } from '../support/raw-socket.js';
import { alive, repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const LIMIT = 64 * 1024;
let server: Served;
let client: RuntimeClient;

const robust = suite('failures stay contained');
robust.before(async () => {
  server = await serve(project, { noGen: true, env: { AGENTIX_MAX_PAYLOAD: String(LIMIT), AGENTIX_HANG_GRACE_MS: '500' } });
  client = await RuntimeClient.connect(server.url, { token: server.token });
});
robust.after(async () => {
  await client?.close();
  await server?.stop();
});

/** Runs `failing` beside a slow call and checks the slow call and the worker were not affected. */
async function isolated(failing: () => Promise<unknown>): Promise<RemoteError> {
  const pid = await client.call<number>('pid', []);
  const neighbour = client.call('sleep', [300]);
  const err = (await failing().catch((e) => e)) as RemoteError;
  assert.is(await neighbour, 'slept 300', 'the call beside it finished normally');
  assert.is(await client.call('pid', []), pid, 'the worker was not replaced');
  return err;
}

robust('an unauthenticated client resetting its connection mid-reply does not crash the server', async () => {
  const { port } = new URL(server.url);
  for (let i = 0; i < 50; i++) {
    await new Promise<void>((resolve) => {
      const sock = connect(Number(port), '127.0.0.1', () => {
        sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer wrong\r\n\r\n');
        sock.resetAndDestroy();
        resolve();
      });
      sock.on('error', () => resolve());
    });
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(alive(server.child.pid!), 'server alive');
  assert.is(await client.call('run', ['still']), 'hello still');
});

robust('an exception whose details cannot be encoded still arrives, and nobody else notices', async () => {
  const err = await isolated(() => client.call('throwUnencodable', []));
  assert.instance(err, RemoteError);
  assert.is(err.code, 'REMOTE');
  assert.match(err.message, /could not be encoded/);
});

robust('an exception larger than the message limit arrives cut down, and nobody else notices', async () => {
  const err = await isolated(() => client.call('throwHuge', [LIMIT * 3]));
  assert.is(err.code, 'REMOTE');
  assert.match(err.message, /huge.*cut to fit/);
});

robust('a thenable whose then() throws is the caller\'s error, not the worker\'s end', async () => {
  const err = await isolated(() => client.call('badThenable', []));
  assert.is(err.code, 'REMOTE');
  assert.is(err.message, 'then() exploded');
});

robust('call ids and counts in any msgpack integer encoding work (here uint64)', async () => {
  const ws = await rawSocket(server.url, server.token);
  try {
    // [1, id=7 as uint64, timeoutMs=0, 'run', ['u64']]
    const frame = Buffer.concat([Buffer.from([0x95, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0x00]), encode('run'), encode(['u64'])]);
    ws.send(frame);
    assert.equal(await nextMessage(ws), [RESULT, 7, 'hello u64']);
  } finally {
    ws.close();
  }
});

robust('a short deadline while the worker restarts fails that call without killing the new worker', async () => {
  await client.call('exitNow', [1]).catch(() => undefined);
  const err = (await client.call('sleep', [10], { timeoutMs: 1 }).catch((e) => e)) as RemoteError;
  assert.is(err.code, 'DEADLINE_EXCEEDED');
  const pid = await client.call<number>('pid', [], { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 800)); // past the hang grace: a wrongly armed watchdog would have fired
  assert.is(await client.call('pid', []), pid, 'the restarted worker was left alone');
});

robust('a CALL whose body is garbage fails that call only, with PROTOCOL', async () => {
  const ws = await rawSocket(server.url, server.token);
  try {
    ws.send(Buffer.from([0x95, 0x01, 0x09, 0x00, 0xc1, 0xc1]));
    const reply = await nextMessage(ws);
    assert.equal([reply[0], reply[1], (reply[2] as { code: string }).code], [ERROR, 9, 'PROTOCOL']);
  } finally {
    ws.close();
  }
  assert.is(await client.call('run', ['ok']), 'hello ok');
});

robust.run();
