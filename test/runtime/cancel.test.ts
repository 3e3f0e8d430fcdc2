/** Cancellation reaches the function: abort signals, deadlines, and breaking out of for-await. */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
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

const cancel = suite('runtime cancellation');
cancel.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentix-cancel-'));
  h = duplexProject(project);
  client = h.client;
});
cancel.after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

cancel('aborting the signal rejects at once with CANCELLED and aborts currentSignal() in the worker', async () => {
  const file = marker('abort');
  const ac = new AbortController();
  const pending = client.call('waitForCancel', [file], { signal: ac.signal });
  assert.ok(await eventually(() => read(file).includes('started')), 'the function started');
  ac.abort();
  const err = (await pending.catch((e) => e)) as RemoteError;
  assert.instance(err, RemoteError);
  assert.is(err.code, 'CANCELLED');
  assert.ok(await eventually(() => read(file).includes('aborted:AbortError')), `worker saw the abort: ${read(file)}`);
});

cancel('an already aborted signal never sends the call', async () => {
  const ac = new AbortController();
  ac.abort();
  const sentBefore = h.fromClient.length;
  const err = (await client.call('run', ['x'], { signal: ac.signal }).catch((e) => e)) as RemoteError;
  assert.is(err.code, 'CANCELLED');
  assert.is(err.message, 'run was cancelled before it started');
  const s = client.stream('count', [3], { signal: ac.signal });
  assert.is(((await s[Symbol.asyncIterator]().next().catch((e) => e)) as RemoteError).code, 'CANCELLED');
  assert.equal(h.fromClient.slice(sentBefore), [], 'nothing went on the wire');
});

cancel('a timeout rejects with DEADLINE_EXCEEDED and the server aborts the function too', async () => {
  const file = marker('deadline');
  const err = (await client.call('waitForCancel', [file], { timeoutMs: 150 }).catch((e) => e)) as RemoteError;
  assert.is(err.code, 'DEADLINE_EXCEEDED');
  assert.ok(await eventually(() => read(file).includes('aborted:TimeoutError')), `worker saw the deadline: ${read(file)}`);
});

cancel('a call within its deadline is unaffected', async () => {
  assert.is(await client.call('sleep', [20], { timeoutMs: 5000 }), 'slept 20');
});

cancel('breaking out of for-await runs the remote generator\'s finally', async () => {
  const file = marker('finally');
  let n = 0;
  for await (const x of client.stream<number>('endless', [file])) {
    if (++n === 10) break;
    assert.is(x, n - 1);
  }
  assert.ok(await eventually(() => read(file).includes('finally')), 'finally ran in the worker');
  assert.is(await client.call('run', ['next']), 'hello next');
});

cancel('breaking out of for-await aborts currentSignal() read inside the generator body', async () => {
  const file = marker('generator-signal');
  let n = 0;
  for await (const _ of client.stream<number>('untilAborted', [file])) if (++n === 3) break;
  assert.ok(await eventually(() => read(file).includes('aborted:AbortError')), `generator saw the abort: ${read(file)}`);
});

cancel('aborting a stream ends iteration with CANCELLED and runs the generator\'s finally', async () => {
  const file = marker('stream-abort');
  const ac = new AbortController();
  const seen: number[] = [];
  const err = await (async () => {
    for await (const x of client.stream<number>('endless', [file], { signal: ac.signal })) {
      seen.push(x);
      if (seen.length === 3) ac.abort();
    }
  })().catch((e) => e);
  assert.is((err as RemoteError).code, 'CANCELLED');
  assert.ok(await eventually(() => read(file).includes('finally')));
});

cancel('cancelling a bidi call fails the inbox inside the function', async () => {
  const file = marker('inbox-failed');
  const c = client.bidi<string, string>('recordInbox', [file]);
  await c.send('hello');
  const it = c[Symbol.asyncIterator]();
  assert.equal(await it.next(), { value: 'hello', done: false });
  c.cancel();
  assert.equal((await it.next()).done, true);
  assert.ok(await eventually(() => read(file).includes('inbox:')), 'the function saw its inbox end');
  assert.is(read(file), 'inbox:failed:AbortError\n', 'its for-await over the inbox threw, rather than ending quietly');
  assert.is(await client.call('run', ['after bidi']), 'hello after bidi');
});

cancel('closing the client cancels its calls in the worker', async () => {
  const file = marker('closed');
  const other = duplexProject(project).client;
  const pending = other.call('waitForCancel', [file]).catch((e) => e);
  assert.ok(await eventually(() => read(file).includes('started')), 'the function started');
  await other.close();
  assert.is(((await pending) as RemoteError).code, 'CANCELLED');
  assert.ok(await eventually(() => read(file).includes('aborted')), 'the worker aborted the orphaned call');
});

cancel.run();
