/**
 * Floods of connections (docs/protocol.md, "Connections that do not complete
 * a request"; "Message size"): TCP connections that never send a request,
 * the same ones reconnecting as soon as they are dropped, and many clients
 * each sending a frame just under the hard size limit at once. A real client
 * must still get in and be served, /health must answer, and the server's
 * memory must stay bounded.
 */
import { connect, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import * as M from '../support/fuzz/msgpack-raw.js';
import { MemorySampler, mib } from '../support/fuzz/proc.js';
import { BareClient } from '../support/fuzz/raw.js';
import { serveFuzz, type FuzzServed } from '../support/fuzz/serve-fuzz.js';
import { eventually } from '../support/serve.js';

const floods = suite('connection floods');
let server: FuzzServed | undefined;

floods.after.each(async () => {
  await server?.stop();
  server = undefined;
});

/** Connects a real client and makes one call; 'ok' or why not. */
async function realClient(s: FuzzServed): Promise<string> {
  try {
    const c = await RuntimeClient.connect(s.url, { token: s.token, connectTimeoutMs: 5000 });
    try {
      return (await c.call('add', [1, 2], { timeoutMs: 5000 })) === 3 ? 'ok' : 'wrong answer';
    } finally {
      await c.close();
    }
  } catch (err) {
    return `${(err as RemoteError).code}: ${(err as Error).message}`;
  }
}

const health = (s: FuzzServed) => fetch(new URL('/health', s.url.replace('ws:', 'http:')), { signal: AbortSignal.timeout(5000) }).then((r) => r.status, (e: Error) => e.name);

floods('2000 TCP connections that never send a byte do not keep a real client or /health out', async () => {
  server = await serveFuzz();
  const s = server;
  const { port } = new URL(s.url);
  const idle: Socket[] = [];
  try {
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => new Promise<void>((resolve) => {
        const sock = connect(Number(port), '127.0.0.1', () => resolve());
        sock.on('error', () => resolve());
        idle.push(sock);
      })));
    }
    assert.is(await health(s), 200);
    assert.is(await realClient(s), 'ok');
    const open = () => idle.filter((k) => !k.destroyed && k.readyState === 'open').length;
    assert.ok(await eventually(() => open() <= 500, 5000), `the server keeps ${open()} of 2000 silent connections open`);
  } finally {
    for (const k of idle) k.destroy();
  }
});

floods('silent connections opened as fast as the server accepts them (200 at a time) do not keep real clients out', async () => {
  server = await serveFuzz();
  const s = server;
  const { port } = new URL(s.url);
  let stop = false;
  let opened = 0;
  const live = new Set<Socket>();
  // Each attacker opens a connection that sends nothing, and the next one as soon as it is accepted (or refused);
  // the server drops the old ones (at most 64 may wait), so what is open stays bounded and the rate is the server's.
  const attacker = async () => {
    while (!stop) {
      await new Promise<void>((resolve) => {
        const sock = connect(Number(port), '127.0.0.1', () => (opened++, resolve()));
        live.add(sock);
        sock.on('error', () => resolve());
        sock.on('close', () => (live.delete(sock), resolve()));
      });
    }
  };
  const attackers = Array.from({ length: 200 }, attacker);
  try {
    assert.ok(await eventually(() => opened > 1000, 10_000), 'the flood is on');
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) outcomes.push(await realClient(s));
    const served = outcomes.filter((o) => o === 'ok').length;
    assert.ok(served >= 8, `only ${served} of 10 real clients were served while ${opened} silent connections were opened: ${outcomes.filter((o) => o !== 'ok').slice(0, 2).join('; ')}`);
    assert.is(await health(s), 200);
  } finally {
    stop = true;
    for (const k of live) k.destroy();
    await Promise.all(attackers);
  }
});

floods('16 clients each sending a frame just under twice the message limit at once: each gets PAYLOAD_TOO_LARGE and the server stays bounded', async () => {
  const LIMIT = 16 * 1024 * 1024;
  server = await serveFuzz({ AGENTIX_MAX_PAYLOAD: String(LIMIT) });
  const s = server;
  const clients = await Promise.all(Array.from({ length: 16 }, () => BareClient.open(s.url, s.token)));
  const memory = new MemorySampler(s.pid, 20);
  try {
    // One buffer for all: [1, 1, 0, "bytesLength", [<31 MiB of bytes>]]
    const frame = M.array([M.uint(1), M.uint(1), M.uint(0), M.str('bytesLength'), M.array([M.bin(Buffer.alloc(2 * LIMIT - 1024 * 1024), 32)])]);
    for (const c of clients) c.send(frame);
    assert.ok(await eventually(() => clients.every((c) => c.finals(1).length === 1), 60_000), 'every client got its final');
    for (const c of clients) assert.is((c.finals(1)[0]![2] as { code: string }).code, 'PAYLOAD_TOO_LARGE');
    const m = memory.stop();
    assert.ok(m.serverPeak < 450 * 1024 * 1024, `server RSS peaked at ${mib(m.serverPeak)} MiB for 16 × 31 MiB in flight`);
    assert.is(await realClient(s), 'ok');
  } finally {
    memory.stop();
    for (const c of clients) c.destroy();
  }
});

floods.run();
