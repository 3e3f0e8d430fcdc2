/**
 * What the compiler refuses, and how it says so: one run lists every refused
 * export, each line naming the export (`src/index.ts:12: export f`), the file
 * and line of the offending type, and why; `agentix gen` exits 1 without a
 * stack. `"agentix": { "exclude": [...] }` leaves exports out on purpose.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate, GenError, RefusedExportsError } from '../../codegen/index.js';
import { assertModelSound, CompilerBug } from '../../codegen/check.js';
import { repoRoot, tempProject } from './helpers.js';

async function refusal(source: string, extra: Record<string, string> = {}, agentix?: Record<string, unknown>): Promise<RefusedExportsError> {
  const p = tempProject({ 'src/index.ts': source, ...extra }, agentix);
  try {
    await generate({ projectDir: p.dir, write: false });
  } catch (err) {
    if (err instanceof RefusedExportsError) return err;
    throw err;
  } finally {
    p.cleanup();
  }
  throw new Error('expected a refusal, generate() succeeded');
}

/** The refusal lines, as the CLI prints them. */
const lines = (e: RefusedExportsError) => e.message.split('\n').slice(1).map((l) => l.trim());

test('generic functions are refused with file, line and the type parameters', async () => {
  const e = await refusal('\nexport function id<T>(x: T): T { return x; }\n');
  assert.equal(lines(e), ['src/index.ts:2: export id: function id: generic function <T>: the compiler needs concrete types to check arguments; export a non-generic wrapper']);
  assert.is(e.refusals[0]!.site.line, 2);
});

test('one run lists every refused export and problem, and accepts nothing half-made', async () => {
  const e = await refusal([
    'export function ok(x: number): number { return x; }',
    'export function each(xs: number[], cb: (x: number) => void): void {}',
    'export function both(a: () => void, b: Map<string, number>): void {}',
    'export class Greeter { hi() { return 1; } }',
  ].join('\n') + '\n');
  assert.equal(lines(e), [
    'src/index.ts:2: export each: parameter "cb" of each: function-typed value (x: number) => void: functions cannot be sent to or from a sandbox; pass data and call another exported function instead',
    'src/index.ts:3: export both: parameter "a" of both: function-typed value () => void: functions cannot be sent to or from a sandbox; pass data and call another exported function instead',
    'src/index.ts:3: export both: parameter "b" of both: Map<string, number> is not supported on the wire (supported: JSON-like data, Date, Uint8Array/Buffer, bigint); convert it to plain data',
    'src/index.ts:4: export Greeter: classes cannot be called remotely; export plain functions (a class instance would lose its methods on the wire)',
  ]);
  assert.match(e.message, /^src\/index\.ts:2: 3 exports refused \(fix them, or leave them out with package\.json "agentix": \{ "exclude": \[\.\.\.\] \}\):\n/);
});

test('a refusal names the export line and, separately, where the offending type is declared', async () => {
  const e = await refusal("import type { Opts } from './opts.js';\n\nexport function f(x: Opts): void {}\nexport { f as g };\n", { 'src/opts.ts': 'export interface Opts {\n  name: string;\n  onDone(): void;\n}\n' });
  assert.equal(lines(e), [
    'src/index.ts:3: export f: src/opts.ts:3: property "onDone" of Opts: function-typed value () => void: functions cannot be sent to or from a sandbox; pass data and call another exported function instead',
    'src/index.ts:4: export g: src/opts.ts:3: property "onDone" of Opts: function-typed value () => void: functions cannot be sent to or from a sandbox; pass data and call another exported function instead',
  ]);
});

test('re-exports are named at the line that re-exports them (export { } from, export * from)', async () => {
  const e = await refusal("export { bad as renamed } from './a.js';\n\nexport * from './b.js';\n", {
    'src/a.ts': 'export function bad(cb: () => void): void {}\n',
    'src/b.ts': 'export function fine(): number { return 1; }\nexport function worse(m: WeakMap<object, number>): void {}\n',
  });
  assert.equal(lines(e).map((l) => l.split(': ').slice(0, 3).join(': ')), ['src/index.ts:1: export renamed: src/a.ts:1', 'src/index.ts:3: export worse: src/b.ts:2']);
});

test('functions are refused however they are combined: intersections, returned objects with methods, required callbacks', async () => {
  const e = await refusal([
    'export function tagged(f: (() => void) & { tag: string }): void {}',
    'export function handle(): { name: string; run(): void } { return { name: "", run() {} }; }',
    'export function opts(o: { onDone: () => void; name?: string }): void {}',
    'export function callable(): { (x: number): number; label: string } { return Object.assign((x: number) => x, { label: "" }); }',
  ].join('\n') + '\n');
  assert.equal(lines(e).map((l) => l.replace(/: functions cannot be sent.*/, '')), [
    'src/index.ts:1: export tagged: parameter "f" of tagged: function-typed value (() => void) & { tag: string; }',
    'src/index.ts:2: export handle: property "run" of { name: string; run(): void; }: function-typed value () => void',
    'src/index.ts:3: export opts: property "onDone" of { onDone: () => void; name?: string | undefined; }: function-typed value () => void',
    'src/index.ts:4: export callable: result of callable: function-typed value { (x: number): number; label: string; }',
  ]);
});

test('exported classes and class instances with methods are refused', async () => {
  const e = await refusal('class Box { v = 1; get() { return this.v; } }\nexport function f(b: Box): number { return 1; }\nexport function g(): Box { return new Box(); }\n');
  assert.equal(lines(e).map((l) => l.replace(/;.*/, '')), [
    'src/index.ts:2: export f: parameter "b" of f: class Box has methods',
    'src/index.ts:3: export g: result of g: class Box has methods',
  ]);
});

test('tuples with a rest element before other elements are refused, not checked wrongly', async () => {
  const e = await refusal('export function last(t: [...string[], number]): number { return 0; }\nexport function mid(t: [string, ...number[], string]): number { return 0; }\n');
  assert.equal(lines(e).map((l) => l.replace(/: a rest element.*/, '')), [
    'src/index.ts:1: export last: parameter "t" of last: [...string[], number]',
    'src/index.ts:2: export mid: parameter "t" of mid: [string, ...number[], string]',
  ]);
});

test('unresolved types are refused, naming the type as written; so are exports that do not resolve', async () => {
  const e = await refusal("export function f(x: DoesNotExist): void {}\nexport { gone } from './missing.js';\n");
  assert.equal(lines(e), [
    'src/index.ts:1: export f: parameter "x" of f: "DoesNotExist" contains an unresolved type (a missing import or a type that does not exist); the compiler cannot say what it accepts',
    'src/index.ts:2: export gone: does not resolve (a missing module, or a name the module does not export)',
  ]);
});

test('an export whose own type does not resolve is refused, not taken for data', async () => {
  const e = await refusal('export const f: DoesNotExist = () => 1;\n');
  assert.equal(lines(e), ['src/index.ts:1: export f: its type does not resolve (a missing import or a type that does not exist); the compiler cannot say whether it is a function']);
});

test('a type narrowed as an argument is never reused narrowed for a result', async () => {
  const e = await refusal([
    'export interface Opts { name: string; index?: Map<string, number> }',
    'export function take(o: Opts): string { return o.name; }',
    'export function give(): Opts { return { name: "" }; }',
  ].join('\n') + '\n');
  assert.equal(lines(e).map((l) => l.replace(/ is not supported.*/, '')), ['src/index.ts:3: export give: src/index.ts:1: property "index" of Opts: Map<string, number>']);
});

test('an untyped parameter is refused as implicitly any (nobody wrote the any)', async () => {
  const e = await refusal('// @ts-nocheck\nexport function f(x, y: number): number { return y; }\n');
  assert.equal(lines(e), ['src/index.ts:2: export f: parameter "x" of f: has no type annotation, so it is implicitly `any`; write the type']);
});

test('lib objects that are not data (Map, Promise parameters, ArrayBuffer) are refused', async () => {
  const e = await refusal('export function f(m: Map<string, number>): void {}\nexport function g(p: Promise<number>): void {}\nexport function h(): ArrayBuffer { return new ArrayBuffer(1); }\n');
  assert.equal(lines(e).map((l) => l.replace(/ is not supported on the wire.*/, '')), [
    'src/index.ts:1: export f: parameter "m" of f: Map<string, number>',
    'src/index.ts:2: export g: parameter "p" of g: Promise<number>',
    'src/index.ts:3: export h: result of h: ArrayBuffer',
  ]);
});

test('a bidi function must return an AsyncIterable', async () => {
  const e = await refusal("import type { Channel } from 'agentix';\nexport async function f(inbox: Channel<string>): Promise<number> { return 1; }\n");
  assert.match(lines(e)[0]!, /^src\/index\.ts:2: export f: function f: a function with a Channel parameter \(bidi\) must return an AsyncIterable/);
});

test('a synchronous generator is refused with a hint to make it async', async () => {
  const e = await refusal('export function* nums(): Generator<number> { yield 1; }\n');
  assert.match(lines(e)[0]!, /result of nums: returns a synchronous Generator \(Generator<number, any, any>\); to stream items make it an async generator/);
});

test('a rest parameter with a tuple type is refused', async () => {
  const e = await refusal('export function g(...args: [number, string]): void {}\n');
  assert.match(lines(e)[0]!, /parameter "args" of g: rest parameter of type \[number, string\]/);
});

test('messages never show compiler-internal names (symbol keys, generated definition names)', async () => {
  const e = await refusal([
    'declare const k: unique symbol;',
    'export interface Page<T> { items: T[]; [k]?: boolean; onMore(): void }',
    'export function f(p: Page<string>): void {}',
  ].join('\n') + '\n');
  assert.equal(lines(e), ['src/index.ts:3: export f: src/index.ts:2: property "onMore" of Page<string>: function-typed value () => void: functions cannot be sent to or from a sandbox; pass data and call another exported function instead']);
  assert.not.match(e.message, /__@|Page_string|__type/);
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

test('a written any is accepted with a warning naming where; an export typed any is not a target, with a warning', async () => {
  const p = tempProject({ 'src/index.ts': 'export function f(x: any): void {}\nexport const g: any = () => 1;\n' });
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    assert.equal(Object.keys(r.manifest.targets), ['f']);
    assert.equal(r.manifest.targets.f!.args, { type: 'array', prefixItems: [{}], minItems: 1, maxItems: 1 });
    assert.match(r.warnings.join('\n'), /src\/index\.ts:1: parameter "x" of f: `any` accepts anything/);
    assert.match(r.warnings.join('\n'), /src\/index\.ts:2: export "g" is typed `any`, so nothing says it can be called; not a target/);
  } finally {
    p.cleanup();
  }
});

test('the model check fails gen on an any no declaration wrote, and on a dangling reference', () => {
  const target = (returns: unknown) => ({ name: 'f', module: 'app', export: 'f', shape: 'unary' as const, signatures: [{ params: [], returns: returns as never }], file: 'src/index.ts', line: 1 });
  assert.not.throws(() => assertModelSound({ modules: {}, targets: [target({ kind: 'any', declared: 'src/index.ts:1' })], defs: [], notes: [] }));
  assert.throws(() => assertModelSound({ modules: {}, targets: [target({ kind: 'any' })], defs: [], notes: [] }), (e: Error) => e instanceof CompilerBug && /target f result: an any no declaration wrote/.test(e.message));
  assert.throws(() => assertModelSound({ modules: {}, targets: [target({ kind: 'ref', name: 'Gone' })], defs: [], notes: [] }), /reference to the missing definition Gone/);
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
    assert.match(r.warnings.join('\n'), /src\/index\.ts:1: export "ns" is a namespace/);
  } finally {
    p.cleanup();
  }
});

test('"exclude" leaves exports out of gen, --check and the summary; an unknown name is a warning, a bad value an error', async () => {
  const source = 'export function keep(): number { return 1; }\nexport function each(cb: () => void): void {}\n';
  const p = tempProject({ 'src/index.ts': source }, { plugins: [], exclude: ['each', 'nothing'] });
  try {
    const r = await generate({ projectDir: p.dir });
    assert.equal(Object.keys(r.manifest.targets), ['keep']);
    assert.ok(r.notes.includes('excluded by package.json "agentix.exclude": each'), r.notes.join('\n'));
    assert.match(r.summary, /notes \(1\):\n  excluded by package\.json "agentix\.exclude": each/);
    assert.match(r.warnings.join('\n'), /"agentix\.exclude" lists "nothing", which no module exports/);
    assert.equal((await generate({ projectDir: p.dir, check: true })).stale, []);
  } finally {
    p.cleanup();
  }
  const bad = tempProject({ 'src/index.ts': source }, { plugins: [], exclude: 'each' });
  try {
    await generate({ projectDir: bad.dir, write: false }).then(() => assert.unreachable('should fail'), (e) => {
      assert.instance(e, GenError);
      assert.match(e.message, /^package\.json: "agentix\.exclude" must be an array of export names/);
    });
  } finally {
    bad.cleanup();
  }
});

test('a syntax error in the entry is reported with its line', async () => {
  const p = tempProject({ 'src/index.ts': 'export function f(): number {\n  return 1 +;\n}\n' });
  try {
    await generate({ projectDir: p.dir, write: false }).then(() => assert.unreachable('should fail'), (e) => {
      assert.instance(e, GenError);
      assert.is(e.line, 2);
      assert.match(e.message, /^src\/index\.ts:2: syntax error: Expression expected/);
    });
  } finally {
    p.cleanup();
  }
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

test('agentix gen exits 1 listing every refusal, without a stack trace', () => {
  const p = tempProject({ 'src/index.ts': 'export function each(cb: () => void): void {}\nexport function id<T>(x: T): T { return x; }\n' });
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'cli', 'gen.ts'), p.dir], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /^agentix gen: src\/index\.ts:1: 2 exports refused/);
    assert.match(r.stderr, /\n  src\/index\.ts:1: export each: parameter "cb" of each: function-typed value \(\) => void/);
    assert.match(r.stderr, /\n  src\/index\.ts:2: export id: function id: generic function <T>/);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    p.cleanup();
  }
});

test.run();
