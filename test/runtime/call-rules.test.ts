/**
 * The rules of a call, in-process: a real RuntimeClient wired to the worker's
 * call engine (test/support/duplex.ts), targets written here. What the wire
 * carries is checked on `h.wire` (every message the engine sent, decoded).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError } from '../../index.js';
import { CallTable } from '../../runtime/client/call-table.js';
import { currentSignal } from '../../runtime/context.js';
import { decode, encode } from '../../runtime/wire/codec.js';
import { armDeadline, MAX_TIMER_MS } from '../../runtime/wire/deadline.js';
import * as P from '../../runtime/wire/protocol.js';
import { duplex, type Duplex } from '../support/duplex.js';
import { eventually } from '../support/serve.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const finalsFor = (h: Duplex, id: number) => h.wire.filter((m) => P.isFinal(m[0] as number) && Number(m[1]) === id);
const codeOf = (m: unknown[]) => (m[2] as { code: string }).code;
async function rejected(p: Promise<unknown>): Promise<RemoteError> {
  const r = await p.then(() => undefined, (e: unknown) => e);
  assert.instance(r, RemoteError, `expected a RemoteError, got ${String(r)}`);
  return r as RemoteError;
}

test('a call cancelled while its function still runs gets exactly one final, CANCELLED, and nothing after it', async () => {
  let finish!: (v: string) => void;
  const h = duplex({ slow: { fn: () => new Promise<string>((r) => (finish = r)) } });
  const ac = new AbortController();
  const p = h.client.call('slow', [], { signal: ac.signal });
  await eventually(() => finish !== undefined);
  ac.abort();
  assert.is((await rejected(p)).code, 'CANCELLED');
  assert.ok(await eventually(() => finalsFor(h, 1).length === 1), 'the engine answered the cancel');
  finish('too late'); // the function returns after all: nothing more may go out for the call
  await sleep(20);
  const finals = finalsFor(h, 1);
  assert.is(finals.length, 1, JSON.stringify(h.wire));
  assert.is(finals[0]![0], P.ERROR);
  assert.is(codeOf(finals[0]!), 'CANCELLED');
  await h.close();
});

test('a deadline ends the call at once although its function ignores the signal, and aborts that signal as a TimeoutError', async () => {
  let signal: AbortSignal | undefined;
  const h = duplex({ stuck: { fn: () => ((signal = currentSignal()), new Promise(() => undefined)) } });
  const t = Date.now();
  assert.is((await rejected(h.client.call('stuck', [], { timeoutMs: 50 }))).code, 'DEADLINE_EXCEEDED');
  assert.ok(Date.now() - t < 1000);
  await eventually(() => finalsFor(h, 1).length === 1);
  assert.is(codeOf(finalsFor(h, 1)[0]!), 'DEADLINE_EXCEEDED', 'the engine sent its own final');
  assert.is(signal?.aborted, true);
  assert.is((signal?.reason as Error).name, 'TimeoutError');
  await h.close();
});

test('a deadline longer than a timer can wait is armed as a chain, never as an immediate timeout', async () => {
  let fired = false;
  const d = armDeadline(Date.now() + MAX_TIMER_MS + 10_000, () => (fired = true));
  await sleep(30);
  d.cancel();
  assert.is(fired, false);
  const h = duplex({ later: { fn: async () => (await sleep(30), 'done') } });
  assert.is(await h.client.call('later', [], { timeoutMs: 3_000_000_000 }), 'done');
  assert.is(await h.client.call('later', [], { timeoutMs: 2 ** 53 }), 'done');
  await h.close();
});

test('a thrown Proxy and an Error whose getters throw are reported as errors, on the first call and on later ones', async () => {
  const proxy = () => {
    throw new Proxy({}, { get: () => { throw new Error('no'); }, getPrototypeOf: () => { throw new Error('no proto'); }, ownKeys: () => { throw new Error('no keys'); } });
  };
  const getters = () => {
    const err = new Error('x');
    Object.defineProperty(err, 'message', { get: () => { throw new Error('message getter'); } });
    Object.defineProperty(err, 'field', { get: () => { throw new Error('field getter'); }, enumerable: true });
    throw err;
  };
  const h = duplex({ proxy: { fn: proxy }, getters: { fn: getters }, ok: { fn: () => 'ok' } });
  for (let round = 0; round < 2; round++) {
    const a = await rejected(h.client.call('proxy', []));
    assert.is(a.code, 'REMOTE');
    assert.type(a.message, 'string');
    const b = await rejected(h.client.call('getters', []));
    assert.is(b.code, 'REMOTE');
    assert.is(b.name, 'Error');
    assert.match(b.message, /could not be read/);
  }
  assert.is(await h.client.call('ok', []), 'ok');
  await h.close();
});

test('a thrown non-Error arrives as { name: "Error", code: "REMOTE", message, data.value }', async () => {
  const h = duplex({ str: { fn: () => { throw 'plain string'; } }, obj: { fn: () => { throw { why: 'because', n: 3 }; } } });
  const a = await rejected(h.client.call('str', []));
  assert.equal([a.name, a.code, a.message, a.data], ['Error', 'REMOTE', 'plain string', { value: 'plain string' }]);
  const b = await rejected(h.client.call('obj', []));
  assert.equal([b.name, b.code, b.message, b.data], ['Error', 'REMOTE', '{"why":"because","n":3}', { value: { why: 'because', n: 3 } }]);
  await h.close();
});

test('a framework error is named AgentixError and NOT_FOUND names the target in data.target', async () => {
  const h = duplex({});
  const e = await rejected(h.client.call('nope', []));
  assert.equal([e.name, e.code, e.data], ['AgentixError', 'NOT_FOUND', { target: 'nope' }]);
  await h.close();
});

test('output written by a timer after its call ended goes where output outside any call goes, not to the dead call', async () => {
  const h = duplex({ later: { fn: () => (setTimeout(() => console.log('written late'), 20), 'scheduled') } });
  assert.is(await h.client.call('later', []), 'scheduled');
  assert.ok(await eventually(() => h.stray.join('').includes('written late')), `stray output: ${JSON.stringify(h.stray)}`);
  assert.ok(!h.wire.some((m) => m[0] === P.LOG), 'no LOG for the ended call');
  await h.close();
});

test('log text keeps its newline, one LOG per write, tied to its call', async () => {
  const h = duplex({ speak: { fn: () => (console.log('a'), process.stderr.write('b\nc'), 'ok') } });
  const logs: string[] = [];
  h.client.on('log', (e) => logs.push(`${e.callId}:${e.stream}:${e.text}`));
  await h.client.call('speak', []);
  await sleep(10);
  assert.equal(logs, ['1:stdout:a\n', '1:stderr:b\nc']);
  await h.close();
});

test('log lines beyond the pending bound are dropped, then one marker says how many bytes', async () => {
  const h = duplex({ chatty: { fn: () => { for (let i = 0; i < 10; i++) console.log('0123456789'); return 'ok'; } } }, { logPendingLimit: 100 });
  const logs: string[] = [];
  h.client.on('log', (e) => logs.push(e.text));
  h.pending = 1000; // the pipe looks backed up
  await h.client.call('chatty', []);
  await sleep(10);
  assert.equal(logs, ['[agentix: 110 bytes of output were dropped: the client was not reading them fast enough]\n']);
  await h.close();
});

test('a stream never runs ahead of its credit, and credit 0 opens it paused until the first read', async () => {
  let pulled = 0;
  const h = duplex({ gen: { shape: 'stream', fn: async function* () { for (;;) (pulled++, yield pulled); } } });
  const s = h.client.stream<number>('gen', [], { credit: 4 });
  await sleep(30);
  assert.ok(pulled <= 5, `pulled ${pulled} with 4 credits`);
  s.cancel();
  pulled = 0;
  const paused = h.client.stream<number>('gen', [], { credit: 0 });
  await sleep(30);
  assert.is(pulled, 0, 'nothing is produced before the first read');
  const it = paused[Symbol.asyncIterator]();
  assert.equal(await it.next(), { value: 1, done: false });
  await it.return!();
  await h.close();
});

test('a stream stops pulling while the transport is backed up, and goes on once it drains', async () => {
  let pulled = 0;
  const h = duplex({ gen: { shape: 'stream', fn: async function* () { for (let i = 0; i < 100; i++) (pulled++, yield i); } } });
  h.congest(true);
  const s = h.client.stream<number>('gen', []);
  await sleep(30);
  assert.ok(pulled <= 1, `pulled ${pulled} while congested`);
  h.congest(false);
  let n = 0;
  for await (const _ of s) n++;
  assert.is(n, 100);
  await h.close();
});

test("a stream's items may wait to leave together; its END and a unary result leave at once", async () => {
  const h = duplex({ gen: { shape: 'stream', fn: async function* () { for (let i = 0; i < 5; i++) yield i; } }, one: { fn: () => 1 } });
  const items: number[] = [];
  for await (const x of h.client.stream<number>('gen', [])) items.push(x);
  assert.equal(items, [0, 1, 2, 3, 4]);
  assert.is(await h.client.call('one', []), 1);
  const kinds = h.wire.map((m, i) => `${m[0] === P.ITEM ? 'ITEM' : m[0] === P.END ? 'END' : m[0] === P.RESULT ? 'RESULT' : m[0]}:${h.gathered[i] ? 'gather' : 'now'}`);
  assert.equal(kinds.filter((k) => !k.startsWith('ITEM')), ['END:now', 'RESULT:now']);
  assert.ok(kinds.filter((k) => k.startsWith('ITEM')).every((k) => k === 'ITEM:gather'), kinds.join(' '));
  await h.close();
});

test('a bidi call gets its first INBOX_CREDIT (64) before the function starts', async () => {
  let started = false;
  const h = duplex({ chat: { shape: 'bidi', fn: async function* (inbox: AsyncIterable<string>) { started = true; for await (const x of inbox) yield x; } } });
  const c = h.client.bidi<string, string>('chat', []);
  await eventually(() => started);
  const first = h.wire.findIndex((m) => m[0] === P.INBOX_CREDIT);
  assert.equal(h.wire[first], [P.INBOX_CREDIT, 1, 64]);
  c.close();
  for await (const _ of c) undefined;
  await h.close();
});

test('an INBOX_ITEM to a call without an inbox ends that call with PROTOCOL', async () => {
  const h = duplex({ wait: { fn: () => new Promise(() => undefined) } });
  const p = h.client.call('wait', []);
  await sleep(10);
  h.raw(encode([P.INBOX_ITEM, 1, 'x']));
  const e = await rejected(p);
  assert.is(e.code, 'PROTOCOL');
  assert.match(e.message, /not a bidi call/);
  await h.close();
});

test('an inbox item that fails its schema ends the call with INVALID_ARGUMENT, its paths pointing into the item', async () => {
  const h = duplex({ chat: { shape: 'bidi', inbox: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] }, fn: async function* (inbox: AsyncIterable<unknown>) { for await (const x of inbox) yield x; } } });
  const c = h.client.bidi<unknown, unknown>('chat', []);
  await c.send({ n: 'one' });
  const e = await (async () => { for await (const _ of c) undefined; })().then(() => undefined, (err: RemoteError) => err);
  assert.is(e?.code, 'INVALID_ARGUMENT');
  assert.equal((e!.data as { errors: unknown[] }).errors, [{ path: '/n', message: 'expected number' }]);
  const c2 = h.client.bidi<unknown, unknown>('chat', []);
  await c2.send(5);
  const e2 = await (async () => { for await (const _ of c2) undefined; })().then(() => undefined, (err: RemoteError) => err);
  assert.equal((e2!.data as { errors: { path: string }[] }).errors[0]!.path, '', 'the item itself is the root');
  await h.close();
});

test('more inbox items than granted end the call with PROTOCOL', async () => {
  const h = duplex({ chat: { shape: 'bidi', fn: async function* () { await new Promise(() => undefined); } } });
  const s = h.client.bidi('chat', []);
  await sleep(10);
  for (let i = 0; i < 65; i++) h.raw(encode([P.INBOX_ITEM, 1, i]));
  const e = await (async () => { for await (const _ of s) undefined; })().then(() => undefined, (err: RemoteError) => err);
  assert.is(e?.code, 'PROTOCOL');
  assert.match(e!.message, /inbox overflow/);
  await h.close();
});

test('malformed CALLs get PROTOCOL as their final; options nil means defaults, a fractional timeout is rounded up', async () => {
  const h = duplex({ add: { fn: (a: unknown, b: unknown) => (a as number) + (b as number) } });
  h.raw(encode([P.CALL, 7, 0, 'add', [1, 2], null]));
  h.raw(encode([P.CALL, 8, 12.25, 'add', [2, 2]]));
  h.raw(encode([P.CALL, 9, -5, 'add', [1, 2]]));
  h.raw(encode([P.CALL, 10, 0, 'add', 'not an array']));
  h.raw(encode([P.CALL, 11, 0, 'add', [1, 2], { credit: -1 }]));
  h.raw(encode([P.CALL, 0, 0, 'add', [1, 2]]));
  await eventually(() => h.wire.length >= 6);
  const byId = (id: number) => h.wire.find((m) => Number(m[1]) === id)!;
  assert.equal(byId(7), [P.RESULT, 7, 3]);
  assert.equal(byId(8), [P.RESULT, 8, 4]);
  for (const id of [9, 10, 11]) assert.is(codeOf(byId(id)), 'PROTOCOL', `call ${id}`);
  assert.is(codeOf(byId(0)), 'PROTOCOL', 'call_id 0 is an error about the frame');
  assert.match((byId(0)[2] as { message: string }).message, /call_id/);
  await h.close();
});

test('a CALL that would decode to more memory than the bound is refused before decoding, and nothing runs', async () => {
  let ran = false;
  const h = duplex({ take: { fn: () => (ran = true) } });
  // 12 MiB of empty arrays: 12 million arrays once decoded.
  const n = 12 * 1024 * 1024;
  const args = Buffer.alloc(n + 5, 0x90);
  args[0] = 0xdd;
  args.writeUInt32BE(n, 1);
  const head = encode([P.CALL, 1, 0, 'take']).subarray(1); // the fields, without the array header
  h.raw(Buffer.concat([Buffer.from([0x95]), head, Buffer.from([0x91]), args]));
  await eventually(() => h.wire.length > 0);
  assert.is(codeOf(h.wire[0]!), 'PAYLOAD_TOO_LARGE');
  assert.match((h.wire[0]![2] as { message: string }).message, /decode to more than/);
  assert.is(ran, false);
  await h.close();
});

test('a CREDIT that is not a non-negative integer is a PROTOCOL error about the frame, and the stream goes on', async () => {
  const h = duplex({ gen: { shape: 'stream', fn: async function* () { yield 1; await sleep(30); yield 2; } } });
  const s = h.client.stream<number>('gen', []);
  await sleep(5);
  h.raw(encode([P.CREDIT, 1, -3]));
  const got: number[] = [];
  for await (const x of s) got.push(x);
  assert.equal(got, [1, 2]);
  assert.ok(h.wire.some((m) => m[0] === P.ERROR && Number(m[1]) === 0 && codeOf(m) === 'PROTOCOL'));
  await h.close();
});

test('a credit beyond 2^53 (a uint64 on the wire) counts as unlimited, not as an error', async () => {
  const h = duplex({ gen: { shape: 'stream', fn: async function* () { yield 1; yield 2; } } });
  const big = Buffer.from('cfffffffffffffffff', 'hex'); // uint64 max
  const frame = Buffer.concat([Buffer.from([0x96]), encode([P.CALL, 1, 0, 'gen', []]).subarray(1), Buffer.from([0x81, 0xa6]), Buffer.from('credit'), big]);
  h.raw(frame);
  await eventually(() => h.wire.some((m) => m[0] === P.END));
  assert.equal(h.wire, [[P.ITEM, 1, 1], [P.ITEM, 1, 2], [P.END, 1]]);
  await h.close();
});

test('closing the connection cancels its running calls in the engine', async () => {
  let signal: AbortSignal | undefined;
  const h = duplex({ wait: { fn: () => ((signal = currentSignal()), new Promise(() => undefined)) } });
  void h.client.call('wait', []).catch(() => undefined);
  await eventually(() => signal !== undefined);
  await h.close();
  assert.ok(await eventually(() => signal!.aborted), 'the running call was aborted');
  assert.is(h.engine.size, 0);
});

test('a call_id is reused only after its final arrived, not when the caller gave up early', async () => {
  const sent: unknown[][] = [];
  const transport = { open: true, onMessage: () => undefined, onClose: () => undefined, send: (b: Uint8Array) => void sent.push(decode(b) as unknown[]), close: async () => undefined };
  const table = new CallTable(transport, {}, 2);
  const outcomes: string[] = [];
  const handlers = (name: string) => ({ target: name, onMessage: (t: number) => void outcomes.push(`${name}:${t}`), onError: (e: RemoteError) => void outcomes.push(`${name}:${e.code}`) });
  const ac = new AbortController();
  const a = table.start([], { signal: ac.signal }, handlers('a'));
  ac.abort(); // a gives up at once; its final has not arrived
  const b = table.start([], {}, handlers('b'));
  const c = table.start([], {}, handlers('c'));
  assert.equal([a, b, c], [1, 2, undefined], 'no id is free while both wait for their finals');
  assert.equal(outcomes, ['a:CANCELLED', 'c:UNAVAILABLE']);
  table.deliver(P.ERROR, 1, [P.ERROR, 1, { code: 'CANCELLED' }]); // a's final
  assert.is(table.start([], {}, handlers('d')), 1, 'its id is free once the final arrived');
  table.deliver(P.ERROR, 1, [P.ERROR, 1, { code: 'CANCELLED', name: 'AgentixError', message: 'x' }]);
  assert.equal(outcomes.slice(2), ['d:17'], 'a late final goes to the call that holds the id now, which is only possible after the first final');
  assert.equal(sent.map((m) => m[0]), [P.CALL, P.CANCEL, P.CALL, P.CALL]);
});

test('send() refuses more than its bound of unsent inbox items instead of buffering without end', async () => {
  const h = duplex({ chat: { shape: 'bidi', fn: async function* () { await new Promise(() => undefined); } } });
  const c = h.client.bidi<number, never>('chat', []);
  const sends = Array.from({ length: 1024 }, (_, i) => c.send(i)); // no credit has arrived yet: all wait
  const refused = await c.send(-1).then(() => false, (e: Error) => /1024 inbox items already wait/.test(e.message));
  assert.ok(refused, 'the item beyond the bound is refused');
  c.cancel();
  await Promise.all(sends);
  await h.close();
});


test.run();
