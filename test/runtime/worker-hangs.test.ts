/**
 * Busy versus hung, over a real server process: a worker stuck in user code
 * is replaced and fails only what it must; calls queued behind it run on the
 * next worker; a worker that is merely busy is left alone.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import { CALL, CANCEL, ERROR } from '../../runtime/wire/protocol.js';
import { nextMessage, rawSocket } from '../support/raw-socket.js';
import { eventually, repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const GRACE_MS = 300;
let server: Served;
const clients: RuntimeClient[] = [];

const hangs = suite('busy versus hung');
hangs.before(async () => {
  server = await serve(project, { noGen: true, env: { AGENTIX_HANG_GRACE_MS: String(GRACE_MS) } });
});
const after: (() => Promise<unknown>)[] = [];
hangs.after.each(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const f of after.splice(0)) await f();
});
hangs.after(async () => {
  await server?.stop();
});

async function connect(): Promise<RuntimeClient> {
  const c = await RuntimeClient.connect(server.url, { token: server.token });
  clients.push(c);
  return c;
}

const outcome = (p: Promise<unknown>) => p.then((v) => ({ ok: true as const, v }), (e: RemoteError) => ({ ok: false as const, code: e.code, message: e.message }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

hangs('calls sent while a call hangs run on the next worker; only the hung call fails', async () => {
  const a = await connect();
  const b = await connect();
  const before = await b.call<number>('pid', []);
  const hung = outcome(a.call('spin', [], { timeoutMs: 200 }));
  await sleep(100); // the worker is inside the loop now
  const queued = Array.from({ length: 20 }, (_, i) => outcome(b.call('run', [`q${i}`])));
  const results = await Promise.all(queued);
  assert.equal(results, Array.from({ length: 20 }, (_, i) => ({ ok: true, v: `hello q${i}` })), 'every queued call ran');
  const h = await hung;
  assert.is(h.ok, false);
  assert.is((h as { code: string }).code, 'DEADLINE_EXCEEDED');
  assert.is.not(await b.call<number>('pid', []), before, 'the worker was replaced');
});

hangs('a worker busy with a burst of short synchronous calls is not killed; a call on another connection succeeds (default hang grace)', async () => {
  // Its own server with the default grace, as users run it: a burst must never look like a hang.
  const own = await serve(project, { noGen: true });
  const a = await RuntimeClient.connect(own.url, { token: own.token });
  const b = await RuntimeClient.connect(own.url, { token: own.token });
  clients.push(a, b);
  after.push(() => own.stop());
  const before = await b.call<number>('pid', []);
  // 3000 calls of 1 ms each, with 1.5 s deadlines: half cannot start in time.
  const burst = Array.from({ length: 3000 }, () => outcome(a.call('busy', [1], { timeoutMs: 1500 })));
  const other = outcome(b.call('sleep', [50]));
  const results = await Promise.all(burst);
  assert.equal(await other, { ok: true, v: 'slept 50' });
  const codes = new Map<string, number>();
  for (const r of results) codes.set(r.ok ? 'ok' : r.code, (codes.get(r.ok ? 'ok' : r.code) ?? 0) + 1);
  assert.ok((codes.get('ok') ?? 0) > 0, `some ran: ${JSON.stringify([...codes])}`);
  assert.equal([...codes.keys()].filter((k) => k !== 'ok' && k !== 'DEADLINE_EXCEEDED'), [], `only results and deadlines: ${JSON.stringify([...codes])}`);
  assert.is(await b.call<number>('pid', []), before, 'the same worker still serves');
});

hangs('a long synchronous call without a deadline is busy, not hung: it finishes on the same worker', async () => {
  const a = await connect();
  const before = await a.call<number>('pid', []);
  assert.ok((await a.call<number>('busy', [GRACE_MS * 4])) > 0);
  assert.is(await a.call<number>('pid', []), before);
});

hangs('a worker stuck after its last call (a spinning finally) is replaced, and the next call succeeds', async () => {
  const a = await connect();
  const before = await a.call<number>('pid', []);
  for await (const _ of a.stream('spinInFinally', [])) break; // the cancel runs the finally, which never returns
  // The finally starts spinning 50 ms after the worker has taken the cancel: until then (longer on a loaded
  // machine) the old worker still answers, so ask until another one does.
  const pidNow = () => a.call<number>('pid', [], { timeoutMs: 10_000 }).catch(() => before);
  assert.ok(await eventually(async () => (await pidNow()) !== before, 30_000, 50), 'the stuck worker was replaced');
  assert.is(await a.call('run', ['after'], { timeoutMs: 10_000 }), 'hello after');
});

hangs('a deadline beyond 2^31-1 ms does not get a healthy worker killed', async () => {
  const a = await connect();
  const before = await a.call<number>('pid', []);
  assert.is(await a.call('sleep', [GRACE_MS * 3], { timeoutMs: 3_000_000_000 }), `slept ${GRACE_MS * 3}`);
  assert.is(await a.call<number>('pid', []), before);
});

hangs('call_id 0 or beyond 2^32-1 is refused with PROTOCOL before it reaches the worker, even with a deadline and a CANCEL', async () => {
  const a = await connect();
  const before = await a.call<number>('pid', []);
  const ws = await rawSocket(server.url, server.token);
  try {
    for (const id of [0, 2 ** 32, 2 ** 40]) {
      ws.send(encode([CALL, id, 50, 'sleep', [GRACE_MS * 2]]));
      const m = await nextMessage(ws);
      assert.is(m[0], ERROR);
      assert.is(Number(m[1]), 0, 'about the frame, not a call');
      assert.is((m[2] as { code: string }).code, 'PROTOCOL');
      assert.match((m[2] as { message: string }).message, /call_id/);
      ws.send(encode([CANCEL, id]));
      assert.is(((await nextMessage(ws))[2] as { code: string }).code, 'PROTOCOL');
    }
    await sleep(GRACE_MS * 3);
    assert.is(await a.call<number>('pid', []), before, 'no worker was killed');
  } finally {
    ws.terminate();
  }
});

hangs.run();
