/**
 * The generated stubs, seen by the host's type checker: correct calls
 * type-check; wrong argument types, wrong result uses and wrong call shapes
 * are compile errors (each marked `@ts-expect-error`, so tsc fails if one
 * stops being an error). Runs the real tsc on a temporary tsconfig.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixturesDir, repoRoot } from './helpers.js';

const HOST = `
import { createRemote, type RemoteClient } from './shapes.js';
import { createRemote as structures } from './structures.js';
import { createRemote as special } from './special.js';
import { createRemote as primitives, type Color } from './primitives.js';
import { createRemote as withPlugin } from './plugin.js';
import type { RuntimeClient } from '${join(repoRoot, 'runtime', 'client.js')}';

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
  const chat = remote.chat('> ');
  chat.send('hi');
  chat.close();
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
  remote.chat('> ').send(1);
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
  void [n, c];
}
`;

test('host code type-checks against the stubs; wrong calls are compile errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-host-types-'));
  try {
    for (const name of ['shapes', 'structures', 'special', 'primitives', 'plugin']) {
      copyFileSync(join(fixturesDir, name, 'expected', 'client.ts'), join(dir, `${name}.ts`));
    }
    writeFileSync(join(dir, 'host.ts'), HOST);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
        noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')],
        noUnusedLocals: true, noUnusedParameters: true, exactOptionalPropertyTypes: false,
      },
      files: ['host.ts'],
    }));
    const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the generated files type-check under the strictest host settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-host-strict-'));
  try {
    for (const name of ['shapes', 'structures', 'special', 'primitives', 'plugin']) {
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
