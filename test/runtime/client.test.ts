/**
 * Client edge cases over a real server process: calls of the wrong shape,
 * unencodable inbox items, concurrent next(), huge deadlines, and calls used
 * after they ended or after close(). Nothing may hang or leave state behind.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, type RuntimeClient } from '../../index.js';
import { duplexProject, type Duplex } from '../support/duplex.js';
import { eventually, repoRoot } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
let h: Duplex;
let client: RuntimeClient;
let dir: string;
const marker = (name: string) => join(dir, name);
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

/** Bounds a wait that must not hang: fails the test with `what` after 5 s instead. */
function settles<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within 5 s`)), 5000)));
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

/** The error a promise rejects with (fails the test if it resolves or hangs). */
async function rejection(p: Promise<unknown>, what: string): Promise<RemoteError> {
  const r = await settles(p.then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e })), what);
  if (r.ok) assert.unreachable(`${what} resolved with ${JSON.stringify(r.v)}`);
  const err = (r as { e: unknown }).e;
  assert.instance(err, RemoteError, `${what} rejected with ${String(err)}`);
  return err as RemoteError;
}

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

const edges = suite('runtime client edge cases');
edges.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentix-client-'));
  h = duplexProject(project);
  client = h.client;
});
edges.after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});
/** A test that also checks, once it passed, that the shared client tracks no call any more. */
function test(name: string, fn: () => Promise<void>): void {
  edges(name, async () => {
    await fn();
    assert.is(client.inFlight, 0, 'no call is left pending');
  });
}

test('bidi: an inbox item that cannot be encoded fails the call and stops the remote function', async () => {
  for (const [name, item] of [['symbol', Symbol('x')], ['object', { s: Symbol('y') }]] as const) {
    const file = marker(`unencodable-${name}`);
    const c = client.bidi<unknown, unknown>('echoInbox', [file]);
    const it = c[Symbol.asyncIterator]();
    await c.send('fine');
    assert.equal(await settles(it.next(), 'first item'), { value: 'fine', done: false });
    await settles(c.send(item), 'send of an unencodable item');
    const err = await rejection(it.next(), 'next() after the bad item');
    assert.is(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, /inbox item for echoInbox cannot be encoded/);
    assert.ok(await eventually(() => read(file).includes('finally')), `the remote generator's finally ran (${name}): ${read(file)}`);
  }
});

test('client.call() on a stream or bidi function rejects with PROTOCOL instead of hanging', async () => {
  const err = await rejection(client.call('count', [3]), "call('count')");
  assert.is(err.code, 'PROTOCOL');
  assert.is(err.message, 'count is a stream/bidi function; use client.stream()/bidi()');
  // A stream with no items: the END alone must settle the call too.
  assert.is((await rejection(client.call('count', [0]), "call('count', [0])")).code, 'PROTOCOL');
  // A bidi function announces itself with INBOX_CREDIT before any item.
  assert.is((await rejection(client.call('chat', ['> ']), "call('chat')")).code, 'PROTOCOL');
});

test('client.call() on an endless stream also stops the remote generator', async () => {
  const file = marker('wrong-shape-endless');
  assert.is((await rejection(client.call('endless', [file]), "call('endless')")).code, 'PROTOCOL');
  assert.ok(await eventually(() => read(file).includes('finally')), `the remote generator's finally ran: ${read(file)}`);
});

test('client.stream() / bidi() on a unary function fails with PROTOCOL instead of hanging', async () => {
  const err = await rejection(drain(client.stream('add', [1, 2])), "stream('add')");
  assert.is(err.code, 'PROTOCOL');
  assert.is(err.message, 'add is a unary function; use client.call()');
  assert.is((await rejection(drain(client.bidi('add', [1, 2])), "bidi('add')")).code, 'PROTOCOL');
});

test('client.stream() on a bidi function fails with PROTOCOL instead of waiting for an inbox', async () => {
  const err = await rejection(drain(client.stream('chat', ['> '])), "stream('chat')");
  assert.is(err.code, 'PROTOCOL');
  assert.match(err.message, /chat is a bidi function/);
});

test('next() called again before the first settles: each gets the next item in order', async () => {
  const it = client.stream<number>('count', [3])[Symbol.asyncIterator]();
  const got = await settles(Promise.all([it.next(), it.next(), it.next(), it.next(), it.next()]), 'five concurrent next()');
  assert.equal(got, [
    { value: 0, done: false },
    { value: 1, done: false },
    { value: 2, done: false },
    { value: undefined, done: true },
    { value: undefined, done: true },
  ]);
});

test('next() called again before the first settles: the error goes to the first waiter, the rest are done', async () => {
  const it = client.stream<number>('failAfter', [0])[Symbol.asyncIterator]();
  const got = await settles(Promise.allSettled([it.next(), it.next(), it.next()]), 'three concurrent next()');
  assert.is(got[0].status, 'rejected');
  assert.is(((got[0] as PromiseRejectedResult).reason as RemoteError).message, 'the stream broke');
  assert.equal(got.slice(1), [
    { status: 'fulfilled', value: { value: undefined, done: true } },
    { status: 'fulfilled', value: { value: undefined, done: true } },
  ]);
});

test('a deadline too long for a timer, infinite or not positive means the call just runs', async () => {
  for (const timeoutMs of [2 ** 31, 2 ** 32, 2 ** 40, Number.MAX_VALUE, Infinity, NaN, 0, -5]) {
    assert.is(await settles(client.call('sleep', [20], { timeoutMs }), `timeoutMs ${timeoutMs}`), 'slept 20', `timeoutMs ${timeoutMs}`);
  }
  assert.equal(await settles(drain(client.stream<number>('count', [3], { timeoutMs: 2 ** 31 })), 'stream'), [0, 1, 2]);
});

test('no abort listener or deadline timer stays armed once a call has settled, by any path', async () => {
  const ac = new AbortController();
  const listeners = () => getEventListeners(ac.signal, 'abort').length;
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const timersBefore = timers();
  const opts = { signal: ac.signal, timeoutMs: 60_000 };
  await client.call('run', ['x'], opts);
  await rejection(client.call('fail', ['no'], opts), 'fail');
  await rejection(client.call('count', [2], opts), 'wrong shape');
  await drain(client.stream('count', [2], opts));
  await rejection(drain(client.stream('add', [1, 2], opts)), 'wrong shape stream');
  const s = client.stream('endless', [marker('listeners')], opts);
  for await (const _ of s) break;
  const c = client.bidi<unknown, unknown>('echoInbox', [marker('listeners-bidi')], opts);
  void c.send(Symbol('z'));
  await rejection(drain(c), 'unencodable inbox item');
  const aborted = rejection(client.call('waitForCancel', [marker('abort-listeners')], opts), 'aborted call');
  ac.abort();
  assert.is((await aborted).code, 'CANCELLED');
  assert.is(listeners(), 0);
  // The engine runs in this process too: once it has ended every call, its timers are gone as well.
  assert.ok(await eventually(() => h.engine.size === 0), 'the engine ended every call');
  assert.is(timers(), timersBefore, 'every 60 s deadline timer was cleared');
});

test('a call used after it ended: send() resolves, cancel() and close() do nothing, iterating again throws', async () => {
  const c = client.bidi<string, string>('chat', ['> ']);
  await c.send('a');
  const got: string[] = [];
  for await (const o of c) {
    got.push(o);
    break; // ends the call (cancel)
  }
  assert.equal(got, ['> a']);
  const sentAtEnd = h.fromClient.length;
  await settles(c.send('late'), 'send() after the end');
  c.cancel();
  c.close();
  assert.throws(() => c[Symbol.asyncIterator](), /can be iterated only once/);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.fromClient.slice(sentAtEnd), [], 'no INBOX_ITEM, CANCEL or INBOX_END went out after the end');
});

test('send() after close() rejects', async () => {
  const c = client.bidi<string, string>('chat', ['> ']);
  c.close();
  let err: unknown;
  await c.send('late').catch((e) => (err = e));
  assert.match(String(err), /send\(\) after close\(\)/);
  assert.equal(await drain(c), []);
});

test('cancel() after the end of a stream changes nothing', async () => {
  const s = client.stream<number>('count', [2]);
  assert.equal(await drain(s), [0, 1]);
  const sentAtEnd = h.fromClient.length;
  s.cancel();
  assert.is(client.inFlight, 0);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.fromClient.slice(sentAtEnd), [], 'no CANCEL for a stream that already ended');
});

test('close() twice, at once and again later, resolves every time; calls after it reject with CANCELLED', async () => {
  const other = duplexProject(project);
  const c = other.client;
  const running = rejection(c.call('sleep', [10_000]), 'the call in flight');
  await settles(Promise.all([c.close(), c.close()]), 'two close()');
  await settles(c.close(), 'a third close()');
  assert.is((await running).code, 'CANCELLED');
  assert.is((await rejection(c.call('run', ['x']), 'a call after close()')).code, 'CANCELLED');
  assert.is(c.inFlight, 0);
});

edges.run();
