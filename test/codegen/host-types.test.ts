/**
 * The generated stubs, seen by the host's type checker: correct calls
 * type-check; wrong argument types, wrong result uses and wrong call shapes
 * are compile errors (each marked `@ts-expect-error`, so tsc fails if one
 * stops being an error). Runs the real tsc on a temporary tsconfig.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixtureNames, fixturesDir, repoRoot } from './helpers.js';

const HOST = `
import { createRemote, type RemoteClient } from './shapes.js';
import { createRemote as structures } from './structures.js';
import { createRemote as special } from './special.js';
import { createRemote as primitives, type Color } from './primitives.js';
import { createRemote as withPlugin } from './plugin.js';
import { createRemote as realworld, type CallOptions as ReexportedOptions } from './realworld.js';
import type { RuntimeClient } from '${join(repoRoot, 'runtime', 'client', 'client.js')}';
import type { CallOptions } from 'agentix';

declare const client: RemoteClient;
// agentix's own client satisfies the structural interface the stubs declare.
declare const runtimeClient: RuntimeClient;
const remote = createRemote(runtimeClient);
const r2 = createRemote(client, { timeoutMs: 1000 });
void r2;

export async function ok(signal: AbortSignal): Promise<void> {
  const s: string = await remote.greet('ann');
  const s2: string = await remote.greet('ann', '?', { timeoutMs: 5, signal });
  const nums: number[] = await remote.range(1, undefined, 2, { timeoutMs: 5 });
  for await (const n of remote.count(3)) { const x: number = n; void x; }
  // Streams can be cancelled; bidi send() resolves once the item is within the server's credit (backpressure).
  remote.count(3).cancel();
  const chat = remote.chat('> ');
  const sent: Promise<void> = chat.send('hi');
  await sent;
  chat.close();
  chat.cancel();
  for await (const line of chat) { const x: string = line; void x; }
  const joined: string = await remote.$with({ timeoutMs: 5 }).join(',', 'a', 'b');
  await remote.default();
  const shouted: string = await remote.shout('x');
  void [s, s2, nums, joined, shouted];

  const st = structures(client);
  const u = await st.saveUser({ name: 'a', tags: [], status: 'active' });
  const age: number | undefined = u.age;
  await st.pair(['a']);
  await st.rows(['a', 1, 2]);
  await st.sum({ value: 1, children: [{ value: 2, children: [] }] });
  void age;

  const sp = special(client);
  const d: Date = await sp.tomorrow(new Date());
  const b: Uint8Array = await sp.reverse(new Uint8Array(2));
  const buf: Buffer = await sp.concat(Buffer.from('a'), Buffer.from('b'));
  const id: \`user-\${number}\` = await sp.userId(3);
  const size: bigint = await sp.stamp({ at: new Date(), payload: new Uint8Array(), size: 1n });
  void [d, b, buf, id, size];

  const pr = primitives(client);
  const c: Color = 'red';
  await pr.paint(c, 10);
  const p = withPlugin(client);
  const g = await p.greet.hello('x', true);
  const loud: boolean = g.loud;
  for await (const ch of p.greet.letters('abc')) { const x: string = ch; void x; }
  void loud;

  // The generated file re-exports agentix's own contract: one CallOptions, not a copy.
  const same: ReexportedOptions = { timeoutMs: 1 } satisfies CallOptions;
  const rw = realworld(client, same);
  // Readonly values (a literal \`as const\` in the call itself would pass even a mutable parameter).
  const three = [1, 2, 3] as const;
  const pair = ['a', 1] as const;
  const m: number = await rw.mean(three);
  await rw.firstOf(pair);
  const r1: number[] = await rw.range(5);
  const r2: number[] = await rw.range(1, 5, undefined, { timeoutMs: 5 });
  await rw.clamp(5, 3);
  await rw.clamp(5, 1, 3, { signal });
  await rw.baseName('/a/b.txt');
  await rw.baseName('/a/b.txt', '.txt');
  await rw.words('a b', { separator: ' ' });
  await rw.retry(3);
  await rw.tagged('x', undefined, '!');
  await rw.kindOf([1, 2]);
  await rw.present('text');
  await rw.keyCount({ a: 1 });
  await rw.wrapJson([1, 'a', { b: [null] }]);
  await rw.planNames({ steps: [{ name: 'a', children: [{ name: 'b' }] }] });
  await rw.formatDay(new Date(), { weekday: 'long' });
  const h: Uint8Array = await rw.hash(new Uint8Array([1]));
  await rw.concatBytes(new Uint8Array([1]), new Uint8Array([2]));
  await rw.lines('a\\nb', { trim: true });
  void [m, r1, r2, h];
}

export async function wrong(): Promise<void> {
  // @ts-expect-error number where the function takes a string
  await remote.greet(42);
  // @ts-expect-error missing required argument
  await remote.greet();
  // @ts-expect-error the result is a string, not a number
  const n: number = await remote.greet('ann');
  // @ts-expect-error too many arguments: the slot after the parameters takes CallOptions
  await remote.greet('a', '!', 'extra');
  // @ts-expect-error unknown call option
  await remote.greet('a', '!', { timeout: 5 });
  // @ts-expect-error a stream is iterated, not awaited for a number
  const c: number = await remote.count(3);
  // @ts-expect-error the inbox takes strings
  await remote.chat('> ').send(1);
  // @ts-expect-error send() resolves to nothing; it is not the reply
  const reply: string = await remote.chat('> ').send('x');
  // @ts-expect-error a stream takes no inbox items
  remote.count(1).send(1);
  const rw = realworld(client);
  // @ts-expect-error an overload taking a function is not on the wire
  await rw.clamp(5, (x: number) => x);
  // @ts-expect-error a shorter overload takes no call options in the place of a longer one's argument
  await rw.clamp(5, 3, { timeoutMs: 5 });
  // @ts-expect-error optional callbacks are not part of the wire type
  await rw.words('a b', { split: (s: string) => [s] });
  // @ts-expect-error a trailing optional callback is left out of the parameters
  await rw.retry(3, () => {});
  // @ts-expect-error a callback in the middle takes only undefined
  await rw.tagged('x', (s: string) => s);
  // @ts-expect-error the callback member of a union argument is left out
  await rw.lines('a', (l: string) => l.length > 0);
  // @ts-expect-error readonly arrays are still arrays of numbers
  await rw.mean(['a'] as const);
  // @ts-expect-error {} takes anything but null or undefined
  await rw.present(null);
  // @ts-expect-error plain-data lib interfaces keep their literal unions
  await rw.formatDay(new Date(), { weekday: 'longest' });
  // @ts-expect-error rest parameters take strings only (options go through $with)
  await remote.join(',', 'a', { timeoutMs: 5 });
  // @ts-expect-error tags must be strings
  await structures(client).saveUser({ name: 'a', tags: [1] });
  // @ts-expect-error status is a closed set of literals
  await structures(client).saveUser({ name: 'a', tags: [], status: 'gone' });
  // @ts-expect-error the tuple's second element is a number
  await structures(client).pair(['a', 'b']);
  // @ts-expect-error a Date is required, not a string
  await special(client).tomorrow('2024-01-01');
  // @ts-expect-error bigint, not number
  await special(client).stamp({ at: new Date(), payload: new Uint8Array(), size: 1 });
  // @ts-expect-error enum values are checked
  await primitives(client).paint('blue', 10);
  // @ts-expect-error plugin functions are typed too
  await withPlugin(client).greet.hello(1);
  void [n, c, reply];
}
`;

test('host code type-checks against the stubs; wrong calls are compile errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-host-types-'));
  try {
    for (const name of ['shapes', 'structures', 'special', 'primitives', 'plugin', 'realworld']) {
      copyFileSync(join(fixturesDir, name, 'expected', 'client.ts'), join(dir, `${name}.ts`));
    }
    writeFileSync(join(dir, 'host.ts'), HOST);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
        noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')],
        noUnusedLocals: true, noUnusedParameters: true, exactOptionalPropertyTypes: false,
        paths: { agentix: [join(repoRoot, 'index.ts')] },
      },
      files: ['host.ts'],
    }));
    const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the generated files type-check under the strictest host settings, against the built package', () => {
  const builtTypes = join(repoRoot, 'dist', 'index.d.ts');
  assert.ok(existsSync(builtTypes), `${builtTypes} is missing: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), 'agentix-host-strict-'));
  try {
    for (const name of fixtureNames()) {
      copyFileSync(join(fixturesDir, name, 'expected', 'client.ts'), join(dir, `${name}.client.ts`));
      copyFileSync(join(fixturesDir, name, 'expected', 'schemas.ts'), join(dir, `${name}.schemas.ts`));
    }
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')],
        exactOptionalPropertyTypes: true, noUnusedLocals: true, noUnusedParameters: true, verbatimModuleSyntax: true,
        isolatedModules: true, noPropertyAccessFromIndexSignature: true, noUncheckedIndexedAccess: true, erasableSyntaxOnly: true,
        // As users have it: the built package's declarations (their own code is not ours to hold to these settings).
        skipLibCheck: true, paths: { agentix: [builtTypes] },
      },
      include: ['*.ts'],
    }));
    const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
