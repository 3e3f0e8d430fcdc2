/**
 * What the compiler refuses, and how it says so: a GenError naming the file,
 * the line and the offending type; `agentix gen` exits 1 without a stack.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate, GenError } from '../../codegen/index.js';
import { repoRoot, tempProject } from './helpers.js';

async function refusal(source: string, extra: Record<string, string> = {}): Promise<GenError> {
  const p = tempProject({ 'src/index.ts': source, ...extra });
  try {
    await generate({ projectDir: p.dir, write: false });
  } catch (err) {
    if (err instanceof GenError) return err;
    throw err;
  } finally {
    p.cleanup();
  }
  throw new Error('expected a GenError, generate() succeeded');
}

test('generic functions are refused with file, line and the type parameters', async () => {
  const e = await refusal('\nexport function id<T>(x: T): T { return x; }\n');
  assert.is(e.file, 'src/index.ts');
  assert.is(e.line, 2);
  assert.match(e.message, /^src\/index\.ts:2: function id: generic function <T>/);
});

test('a callback parameter (function-typed value) is refused, naming the parameter and the type', async () => {
  const e = await refusal('export function each(xs: number[], cb: (x: number) => void): void {}\n');
  assert.is(e.line, 1);
  assert.match(e.message, /parameter "cb" of each: function-typed value \(x: number\) => void/);
});

test('a method inside a data type is refused at the property', async () => {
  const e = await refusal('export function f(x: Opts): void {}\n', {});
  assert.match(e.message, /unresolved type/);
  const e2 = await refusal("import type { Opts } from './opts.js';\nexport function f(x: Opts): void {}\n", { 'src/opts.ts': 'export interface Opts {\n  name: string;\n  onDone(): void;\n}\n' });
  assert.is(e2.file, 'src/opts.ts');
  assert.is(e2.line, 3);
  assert.match(e2.message, /property "onDone" of Opts: function-typed value/);
});

test('exported classes and class instances with methods are refused', async () => {
  const e = await refusal('export class Greeter { hi() { return 1; } }\n');
  assert.match(e.message, /src\/index\.ts:1: export "Greeter": classes cannot be called remotely/);
  const e2 = await refusal('class Box { v = 1; get() { return this.v; } }\nexport function f(b: Box): number { return 1; }\n');
  assert.match(e2.message, /parameter "b" of f: class Box has methods/);
});

test('unresolved types are refused, naming the type as written', async () => {
  const e = await refusal('export function f(x: DoesNotExist): void {}\n');
  assert.is(e.line, 1);
  assert.match(e.message, /parameter "x" of f: "DoesNotExist" contains an unresolved type/);
});

test('lib objects that are not data (Map, Promise parameters) are refused', async () => {
  assert.match((await refusal('export function f(m: Map<string, number>): void {}\n')).message, /Map<string, number> is not supported on the wire/);
  assert.match((await refusal('export function f(p: Promise<number>): void {}\n')).message, /Promise<number> is not supported on the wire/);
});

test('a bidi function must return an AsyncIterable', async () => {
  const e = await refusal("import type { Channel } from 'agentix';\nexport async function f(inbox: Channel<string>): Promise<number> { return 1; }\n");
  assert.match(e.message, /function f: a function with a Channel parameter \(bidi\) must return an AsyncIterable/);
});

test('a synchronous generator is refused with a hint to make it async', async () => {
  const e = await refusal('export function* nums(): Generator<number> { yield 1; }\n');
  assert.match(e.message, /result of nums: returns a synchronous Generator \(Generator<number, any, any>\); to stream items make it an async generator/);
});

test('a type merely named Channel is not bidi', async () => {
  const p = tempProject({ 'src/index.ts': 'interface Channel<T> { items: T[] }\nexport function f(c: Channel<string>): number { return c.items.length; }\n' });
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    assert.is(r.manifest.targets.f!.shape, 'unary');
    assert.is(r.manifest.targets.f!.inboxIndex, undefined);
  } finally {
    p.cleanup();
  }
});

test('any is accepted with a warning naming where', async () => {
  const p = tempProject({ 'src/index.ts': 'export function f(x: any): void {}\n' });
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    assert.equal(r.manifest.targets.f!.args, { type: 'array', prefixItems: [{}], minItems: 1, maxItems: 1 });
    assert.match(r.warnings.join('\n'), /src\/index\.ts:1: parameter "x" of f: `any` accepts anything/);
  } finally {
    p.cleanup();
  }
});

test('export * as ns and namespaces are skipped with a warning; export default of an arrow is "default"', async () => {
  const p = tempProject({
    'src/ns.ts': 'export function inner(): number { return 1; }\n',
    'src/index.ts': "export * as ns from './ns.js';\nexport default async (x: number, { a }: { a: string }) => x;\n",
  });
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    assert.equal(Object.keys(r.manifest.targets), ['default']);
    assert.equal(r.manifest.targets.default!.params, [{ name: 'x' }, { name: 'arg1' }]);
    assert.match(r.warnings.join('\n'), /src\/index\.ts: export "ns" is a namespace/);
  } finally {
    p.cleanup();
  }
});

test('a rest parameter with a tuple type is refused', async () => {
  assert.match((await refusal('export function g(...args: [number, string]): void {}\n')).message, /parameter "args" of g: rest parameter of type \[number, string\]/);
});

test('a syntax error in the entry is reported with its line', async () => {
  const e = await refusal('export function f(): number {\n  return 1 +;\n}\n');
  assert.is(e.line, 2);
  assert.match(e.message, /^src\/index\.ts:2: syntax error: Expression expected/);
});

test('a missing entry and a bad package.json are friendly errors', async () => {
  const p = tempProject({}, { entry: 'src/main.ts' });
  try {
    await generate({ projectDir: p.dir, write: false }).then(() => assert.unreachable('should fail'), (e) => {
      assert.instance(e, GenError);
      assert.match(e.message, /entry module src\/main\.ts does not exist/);
    });
  } finally {
    p.cleanup();
  }
});

test('agentix gen exits 1 with the message and no stack trace', () => {
  const p = tempProject({ 'src/index.ts': 'export function each(cb: () => void): void {}\n' });
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'cli', 'gen.ts'), p.dir], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /^agentix gen: src\/index\.ts:1: parameter "cb" of each: function-typed value \(\) => void/);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    p.cleanup();
  }
});

test.run();
