/** The three call shapes, many calls in flight, binary payloads, errors and logs, in-process, a client wired to the call engine (test/support/duplex.ts). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, type RuntimeClient, type LogEvent } from '../../index.js';
import { duplexProject, type Duplex } from '../support/duplex.js';
import { repoRoot } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
let h: Duplex;
let client: RuntimeClient;

const calls = suite('runtime calls');
calls.before(async () => {
  h = duplexProject(project);
  client = h.client;
});
calls.after(async () => {
  await h?.close();
});

calls('unary: a value comes back from the worker', async () => {
  assert.is(await client.call('run', ['world']), 'hello world');
  assert.is(await client.call('add', [2, 3]), 5);
});

calls('stream: items arrive in order and the stream ends', async () => {
  const got: number[] = [];
  for await (const n of client.stream<number>('count', [5])) got.push(n);
  assert.equal(got, [0, 1, 2, 3, 4]);
});

calls('stream: more items than one credit window', async () => {
  let n = 0;
  let last = -1;
  for await (const x of client.stream<number>('count', [2000], { credit: 16 })) {
    assert.is(x, last + 1);
    last = x;
    n++;
  }
  assert.is(n, 2000);
});

calls('stream: an error thrown while the consumer waits reaches the consumer, after the items before it', async () => {
  const got: number[] = [];
  const err = await (async () => {
    for await (const n of client.stream<number>('failAfter', [3])) got.push(n);
  })().catch((e) => e);
  assert.equal(got, [0, 1, 2]);
  assert.instance(err, RemoteError);
  assert.is((err as RemoteError).code, 'REMOTE');
  assert.is((err as RemoteError).name, 'RangeError');
  assert.is((err as RemoteError).message, 'the stream broke');
});

calls('bidi: inbox items are answered as they are sent, then the inbox closes', async () => {
  const c = client.bidi<string, string>('chat', ['> ']);
  const it = c[Symbol.asyncIterator]();
  await c.send('one');
  assert.equal(await it.next(), { value: '> one', done: false });
  await c.send('two');
  assert.equal(await it.next(), { value: '> two', done: false });
  c.close();
  assert.equal((await it.next()).done, true);
});

calls('bidi: more inbox items than the inbox window are all delivered', async () => {
  const c = client.bidi<string, string>('chat', ['']);
  const sent = Array.from({ length: 500 }, (_, i) => `m${i}`);
  for (const s of sent) void c.send(s);
  c.close();
  const got: string[] = [];
  for await (const o of c) got.push(o);
  assert.equal(got, sent);
});

calls('many calls of all shapes in flight on one socket are matched by call_id', async () => {
  const unary = Array.from({ length: 300 }, (_, i) => client.call<string>('run', [`#${i}`]));
  const streams = Array.from({ length: 20 }, async (_, i) => {
    const out: number[] = [];
    for await (const x of client.stream<number>('count', [i + 1])) out.push(x);
    return out;
  });
  const bidis = Array.from({ length: 20 }, async (_, i) => {
    const c = client.bidi<string, string>('chat', [`${i}:`]);
    void c.send('a');
    void c.send('b');
    c.close();
    const out: string[] = [];
    for await (const o of c) out.push(o);
    return out;
  });
  const [u, s, b] = await Promise.all([Promise.all(unary), Promise.all(streams), Promise.all(bidis)]);
  u.forEach((v, i) => assert.is(v, `hello #${i}`));
  s.forEach((v, i) => assert.equal(v, Array.from({ length: i + 1 }, (_, k) => k)));
  b.forEach((v, i) => assert.equal(v, [`${i}:a`, `${i}:b`]));
  assert.is(client.inFlight, 0);
});

calls('1 MiB Uint8Array travels as binary both ways', async () => {
  const data = new Uint8Array(1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  const back = await client.call<Uint8Array>('echo', [data]);
  assert.ok(back instanceof Uint8Array, 'a Uint8Array comes back, not an array of numbers');
  assert.is(back.length, data.length);
  assert.ok(Buffer.from(back).equals(Buffer.from(data)));
  assert.is(await client.call('bytesLength', [data]), data.length);
});

calls('values keep their types: Date, bigint, nested maps, undefined in arrays', async () => {
  const value = { when: new Date(1700000000123), big: 2n ** 63n - 1n, nested: { list: [1, 'two', null, undefined] } };
  const back = await client.call<typeof value>('echo', [value]);
  assert.ok(back.when instanceof Date);
  assert.is(back.when.getTime(), 1700000000123);
  assert.is(back.big, 2n ** 63n - 1n);
  assert.equal(back.nested.list, [1, 'two', null, undefined]);
});

calls('a user exception keeps its name, message, stack and own fields', async () => {
  try {
    await client.call('fail', ['no tea']);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, RemoteError);
    const e = err as RemoteError;
    assert.is(e.code, 'REMOTE');
    assert.is(e.name, 'TeapotError');
    assert.is(e.message, 'no tea');
    assert.match(e.remoteStack ?? '', /index\.ts/);
    assert.equal(e.data, { status: 418, detail: { reason: 'short and stout' } });
    assert.is(e.status, 418);
  }
});

calls('an error cause travels along', async () => {
  const err = (await client.call('failWithCause', []).catch((e) => e)) as RemoteError;
  assert.is(err.message, 'outer');
  assert.instance(err.cause, RemoteError);
  assert.is((err.cause as RemoteError).name, 'RangeError');
  assert.is((err.cause as RemoteError).message, 'inner');
});

calls('an unknown target is NOT_FOUND and the connection goes on', async () => {
  const err = (await client.call('nope', []).catch((e) => e)) as RemoteError;
  assert.is(err.code, 'NOT_FOUND');
  assert.match(err.message, /nope/);
  assert.is(await client.call('run', ['still here']), 'hello still here');
});

calls('arguments that break the schema are INVALID_ARGUMENT with the path of each error; user code never runs', async () => {
  const err = (await client.call('add', ['two', 3]).catch((e) => e)) as RemoteError;
  assert.is(err.code, 'INVALID_ARGUMENT');
  assert.match(err.message, /\/0: /);
  assert.equal((err.data?.errors as { path: string }[]).map((e) => e.path), ['/0']);
  const missing = (await client.call('add', [1]).catch((e) => e)) as RemoteError;
  assert.is(missing.code, 'INVALID_ARGUMENT');
  assert.is(await client.call('add', [2, 3]), 5);
});

calls('an inbox item that breaks the schema ends the bidi call with INVALID_ARGUMENT', async () => {
  const c = client.bidi<unknown, string>('chat', ['> ']);
  await c.send('fine');
  await c.send(42);
  const got: string[] = [];
  const err = await (async () => {
    for await (const o of c) got.push(o);
  })().catch((e) => e);
  assert.is((err as RemoteError).code, 'INVALID_ARGUMENT');
  assert.match((err as RemoteError).message, /inbox item/);
  assert.ok(got.length <= 1);
});

calls('a result that cannot be encoded is an INTERNAL error, not a hang', async () => {
  const err = (await client.call('unencodable', []).catch((e) => e)) as RemoteError;
  assert.instance(err, RemoteError);
  assert.is(err.code, 'INTERNAL');
  assert.match(err.message, /unencodable/);
});

calls('stdout and stderr of a call reach the host as log events tied to the call', async () => {
  const logs: LogEvent[] = [];
  const onLog = (e: LogEvent) => logs.push(e);
  client.on('log', onLog);
  try {
    assert.is(await client.call('speak', ['hi']), 'spoke');
    const text = (stream: string) => logs.filter((l) => l.stream === stream).map((l) => l.text).join('');
    assert.match(text('stdout'), /out:hi/);
    assert.match(text('stdout'), /raw bytes that look like a frame/);
    assert.match(text('stderr'), /err:hi/);
    assert.ok(logs.every((l) => l.callId !== 0 && l.target === 'speak'), 'output written during the call is tied to it');
    assert.is(await client.call('run', ['after']), 'hello after');
  } finally {
    client.off('log', onLog);
  }
});

calls.run();
