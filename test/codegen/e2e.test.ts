/**
 * End to end: copy each fixture project, `agentix serve` it (gen + compile +
 * a real server and worker on 127.0.0.1), connect a RuntimeClient and call
 * every function through the *generated* stubs, including Date, bytes,
 * bigint, streams, bidi, rest parameters, `$with`, and a validation failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RuntimeClient } from '../../runtime/client/client.js';
import { fixturesDir, linkFixturePlugins, repoRoot } from './helpers.js';

const TOKEN = 'codegen-e2e-token';
const START_TIMEOUT_MS = 60_000;

interface Served { dir: string; server: ChildProcess; client: RuntimeClient; remote: any; stop: () => Promise<void> }

/** Copies the fixture, serves it, connects, and imports its generated client.ts. */
async function serve(fixture: string): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), `agentix-e2e-${fixture}-`));
  let server: ChildProcess | undefined;
  let client: RuntimeClient | undefined;
  const stop = async () => {
    await client?.close().catch(() => undefined);
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      const timer = setTimeout(() => server!.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    cpSync(join(fixturesDir, fixture), dir, { recursive: true, filter: (src) => !src.includes('/expected') });
    server = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'cli', 'main.ts'), 'serve', dir, '--port', '0', '--host', '127.0.0.1', '--token', TOKEN,
      // The worker inherits `--import tsx`, which Node resolves from the worker's
      // cwd; a temp dir has no node_modules, so run the functions from the repo.
      '--workdir', repoRoot], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`serve did not print its listening line in ${START_TIMEOUT_MS} ms:\n${out}`)), START_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        out += d;
        const m = /agentix: listening on (ws:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      server!.stdout!.on('data', onData);
      server!.stderr!.on('data', onData);
      server!.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`serve exited ${code}:\n${out}`));
      });
    });
    client = await RuntimeClient.connect(url, { token: TOKEN });
    const stubs = await import(pathToFileURL(join(dir, 'agentix-gen', 'client.ts')).href);
    return { dir, server, client, remote: stubs.createRemote(client), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Runs `fn` against a served fixture and always tears it down. */
function withFixture(fixture: string, fn: (s: Served) => Promise<void>) {
  return async () => {
    const s = await serve(fixture);
    try {
      await fn(s);
    } finally {
      await s.stop();
    }
  };
}

const e2e = suite('codegen e2e (agentix serve + generated stubs)');

e2e('primitives: every function through the stubs', withFixture('primitives', async ({ remote }) => {
  assert.is(await remote.echoString('x'), 'x');
  assert.is(await remote.add(1, 2), 3);
  assert.is(await remote.negate(true), false);
  assert.is(await remote.double(2n ** 62n), 2n ** 63n);
  assert.is(await remote.nothing(null), undefined);
  assert.is(await remote.paint('red', 10), 'red:10');
  assert.is(await remote.pick('fast', 2, true), 'fast2true');
  assert.is(await remote.maybe(false), 'false');
  assert.equal(await remote.opaque({ a: [1] }), { a: [1] });
  assert.is(await remote.loose(5), '5');
  await remote.add(1, 'x').then(() => assert.unreachable('should be rejected'), (err: { code: string; message: string; data?: unknown }) => {
    assert.is(err.code, 'INVALID_ARGUMENT');
    assert.match(JSON.stringify([err.message, err.data]), /\/1/);
  });
}));

e2e('structures: interfaces, generics, recursion, tuples, records', withFixture('structures', async ({ remote }) => {
  const user = { name: 'ann', tags: ['a'], status: 'active' };
  assert.equal(await remote.saveUser(user), user);
  assert.equal(await remote.listUsers({ items: [user] }), ['ann']);
  assert.is(await remote.sum({ value: 1, children: [{ value: 2, children: [] }] }), 3);
  assert.is(await remote.pair(['a', 4]), 4);
  assert.is(await remote.pair(['a']), 0);
  assert.is(await remote.rows(['a', 1, 2]), 3);
  assert.equal(await remote.matrix([[1], [2, 3]]), [1, 2, 3]);
  assert.is(await remote.person({ name: 'a', age: 3 }), 'a 3');
  assert.equal(await remote.counts({ a: 1 }), { a: 1 });
  assert.equal(await remote.fixedKeys({ a: true, b: false }), { name: 'true' });
  assert.is(await remote.inline({ id: 1, nested: { deep: [] } }), undefined);
}));

e2e('special: Date, bytes, Buffer, bigint, template literals', withFixture('special', async ({ remote }) => {
  const d = await remote.tomorrow(new Date(0));
  assert.instance(d, Date);
  assert.is(d.getTime(), 86_400_000);
  assert.equal([...(await remote.reverse(new Uint8Array([1, 2, 3])))], [3, 2, 1]);
  assert.is(Buffer.from(await remote.concat(Buffer.from('a'), Buffer.from('b'))).toString(), 'ab');
  assert.is(await remote.userId(7), 'user-7');
  assert.is(await remote.route('/api/x'), '/api/x');
  assert.is(await remote.stamp({ at: new Date(), payload: new Uint8Array([1]), size: 9n }), 9n);
}));

e2e('shapes: unary, stream, bidi, optional/default/rest parameters, $with, re-exports', withFixture('shapes', async ({ remote }) => {
  assert.is(await remote.greet('ann'), 'hello ann!');
  assert.is(await remote.greet('ann', '?', { timeoutMs: 5_000 }), 'hello ann?');
  assert.equal(await remote.range(0, 6, 2), [0, 2, 4]);
  assert.equal(await remote.range(3), [3]);
  assert.is(await remote.join('-', 'a', 'b', 'c'), 'a-b-c');
  assert.is(await remote.$with({ timeoutMs: 5_000 }).join('+', 'x', 'y'), 'x+y');
  assert.equal(await collect(remote.count(4)), [0, 1, 2, 3]);
  assert.equal(await collect(remote.fromStar(2)), [0, 1]);
  const chat = remote.chat('> ');
  chat.send('hi');
  chat.send('there');
  chat.close();
  assert.equal(await collect(chat), ['> hi', '> there']);
  assert.is(await remote.square(5), 25);
  assert.is(await remote.format(3), '3');
  assert.is(await remote.fromOther(1), 2);
  assert.is(await remote.shout('a'), 'A');
  assert.is(await remote.exposed(7), 7);
  assert.is(await remote.default(), undefined);
}));

e2e('plugin: a third-party plugin is called under its namespace', withFixture('plugin', async ({ remote }) => {
  assert.is(await remote.ping(), 'pong');
  assert.equal(await remote.greet.hello('bob', true), { text: 'hello bob', loud: true });
  assert.equal(await collect(remote.greet.letters('ab')), ['a', 'b']);
}));

e2e('realworld: overloads, declared Node types, optional callbacks, callable values and bytes as called through the stubs', withFixture('realworld', async ({ remote }) => {
  // One argument suffices where the declared type says the second is optional (once it was required).
  assert.is(await remote.baseName('/srv/app/index.ts'), 'index.ts');
  assert.is(await remote.baseName('/srv/app/index.ts', '.ts'), 'index');
  assert.equal(await remote.range(3), [0, 1, 2]);
  assert.equal(await remote.range(2, 8, 3), [2, 5]);
  assert.is(await remote.clamp(15, 10), 10);
  assert.is(await remote.clamp(-5, 0, 10, { timeoutMs: 5_000 }), 0);
  assert.equal(await remote.words('a-b c', { separator: '-' }), ['a', 'b c']);
  assert.is(await remote.retry(2), 2);
  assert.is(await remote.tagged('x', undefined, '!'), 'x!');
  assert.equal(await remote.lines(' a \n b', { trim: true }), ['a', 'b']);
  assert.equal([...(await remote.hash(new Uint8Array([1, 2])))], [0, 0, 26, 104]);
  assert.is(await remote.toHex(await remote.concatBytes(new Uint8Array([0xca]), new Uint8Array([0xfe]))), 'cafe');
  assert.is(await remote.mean([1, 2, 3]), 2);
  assert.is(await remote.kindOf([1]), 'array');
  assert.is(await remote.countSteps([{ name: 'a', children: [{ name: 'b' }] }]), 2);
  assert.equal(await remote.wrapJson({ a: [1] }), [{ a: [1] }]);
  assert.is(await remote.formatDay(new Date(Date.UTC(2024, 1, 29)), { month: 'long' }), 'February');
  assert.equal(await remote.parseLink('https://x'), { href: 'https://x' });
  await remote.range(1, 'x').then(() => assert.unreachable('should be rejected'), (err: { code: string }) => assert.is(err.code, 'INVALID_ARGUMENT'));
}));

linkFixturePlugins();
e2e.run();
