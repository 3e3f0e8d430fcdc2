/**
 * The patterns of real libraries' typings that the compiler once got wrong
 * (fixtures/codegen/realworld; its expected/ output is pinned by
 * fixtures.test.ts): each rule by name, as schemas that accept and reject
 * the right values, stub text, and notes.
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate, type GenResult } from '../../codegen/index.js';
import { decode, encode } from '../../runtime/wire/codec.js';
import { compileValidator } from '../../runtime/worker/validate.js';
import { fixturesDir, tempProject } from './helpers.js';

let cached: GenResult | undefined;
const realworld = async () => (cached ??= await generate({ projectDir: join(fixturesDir, 'realworld'), write: false }));
const target = async (name: string) => (await realworld()).manifest.targets[name]!;
/** Issues for calling `name` with `args`, as the worker checks them (after msgpack). */
async function check(name: string, args: unknown[]) {
  const r = await realworld();
  return compileValidator(r.manifest.targets[name]!.args, r.manifest.$defs)(decode(encode(args)));
}
const ok = async (name: string, args: unknown[]) => assert.equal(await check(name, args), [], `${name}(${JSON.stringify(args)})`);
const client = async () => (await realworld()).files.find((f) => f.path.endsWith('client.ts'))!.content;

test('recursion through arrays and unions ends at the named type, however it is reached', async () => {
  const r = await realworld();
  assert.equal((await target('countSteps')).args, { type: 'array', prefixItems: [{ type: 'array', items: { $ref: '#/$defs/Step' } }], minItems: 1, maxItems: 1 });
  assert.equal((r.manifest.$defs!.Plan as { properties: unknown }).properties, { steps: { type: 'array', items: { $ref: '#/$defs/Step' } } });
  assert.equal((await target('wrapJson')).args, { type: 'array', prefixItems: [{ anyOf: [{ $ref: '#/$defs/Json' }, { type: 'array', items: { $ref: '#/$defs/Json' } }] }], minItems: 1, maxItems: 1 });
  assert.match(await client(), /export type QueryValue = undefined \| null \| string \| number \| QueryValue\[\] \| \{ \[key: string\]: any \} \| boolean;/);
  await ok('countSteps', [[{ name: 'a', children: [{ name: 'b', children: [] }] }]]);
  assert.equal(await check('countSteps', [[{ name: 'a', children: [{ name: 2 }] }]]), [{ path: '/0/0/children/0/name', message: 'expected string' }]);
  await ok('wrapJson', [[1, 'a', { b: [null, { c: true }] }]]);
  await ok('queryKeys', [{ a: 1, b: [1, 'x', [true]], c: { any: 'thing' } }]);
});

test('a function typed through Node\'s typings keeps its declared types, optional parameters included', async () => {
  const t = await target('baseName');
  assert.equal(t.params, [{ name: 'path' }, { name: 'suffix', optional: true }]);
  assert.equal(t.args, { type: 'array', prefixItems: [{ type: 'string' }, { anyOf: [{ type: 'string' }, { type: 'undefined' }] }], minItems: 1, maxItems: 2 });
  assert.equal(t.returns, { type: 'string' });
  await ok('baseName', ['/a/b.txt']);
});

test('the fast pass never changes the result: the same with or without an unrelated Buffer function', async () => {
  const source = "import * as path from 'node:path';\nexport const baseName: typeof path.basename = (p, suffix) => path.basename(p, suffix);\n";
  const plain = tempProject({ 'src/index.ts': source });
  const withBuffer = tempProject({ 'src/index.ts': source + 'export function size(b: Buffer): number { return b.length; }\n' });
  try {
    const a = await generate({ projectDir: plain.dir, write: false });
    const b = await generate({ projectDir: withBuffer.dir, write: false });
    assert.equal(a.manifest.targets.baseName, b.manifest.targets.baseName);
    assert.equal(a.manifest.targets.baseName!.params, [{ name: 'path' }, { name: 'suffix', optional: true }]);
    assert.equal([a.pass, b.pass], ['full', 'full']);
  } finally {
    plain.cleanup();
    withBuffer.cleanup();
  }
});

test('re-exported from a package typed through Node (pathe): every function, its true types, never an empty manifest', async () => {
  const p = tempProject({ 'src/index.ts': "export { basename, extname, join } from 'pathe';\n" }, { plugins: [] }, { withPackages: true });
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    assert.equal(Object.keys(r.manifest.targets), ['basename', 'extname', 'join']);
    assert.equal(r.manifest.targets.basename!.params, [{ name: 'path' }, { name: 'suffix', optional: true }]);
    assert.equal(r.manifest.targets.join!.args, { type: 'array', items: { type: 'string' }, minItems: 0 });
    assert.equal(r.warnings, []);
    assert.not.match(JSON.stringify(r.manifest), /"kind":"any"|\{\}/);
  } finally {
    p.cleanup();
  }
});

test('an any that only the missing Node typings made is not taken: the thorough pass decides (here: refused)', async () => {
  // Without Node's typings ReturnType<typeof setTimeout> is any (and the alias is lost); with them it is NodeJS.Timeout, which has methods.
  const p = tempProject({
    'src/timer.d.ts': 'export type Timer = ReturnType<typeof setTimeout>;\nexport declare function start(ms: number): Timer;\n',
    'src/timer.js': 'export function start(ms) { return setTimeout(() => {}, ms); }\n',
    'src/index.ts': "export { start } from './timer.js';\n",
  });
  try {
    const e = await generate({ projectDir: p.dir, write: false }).then(() => undefined, (err: Error) => err);
    assert.ok(e, 'the any of the fast pass was accepted');
    assert.match(e!.message, /export start: node_modules\/@types\/node\/timers\.d\.ts:\d+: property "close" of Timeout: function-typed value/);
  } finally {
    p.cleanup();
  }
});

test('a project that needs nothing of Node stays on the fast pass', async () => {
  const p = tempProject({ 'src/index.ts': 'export function f(x: number): number { return x; }\n' });
  try {
    assert.is((await generate({ projectDir: p.dir, write: false })).pass, 'fast');
  } finally {
    p.cleanup();
  }
});

test('every overload from a .d.ts is a stub overload; one taking a function is left out with a note; foldable overloads are one tuple', async () => {
  const text = await client();
  assert.match(text, /range\(end: number\): Promise<number\[\]>;/);
  assert.match(text, /range\(start: number, end: number, step\?: number, callOptions\?: CallOptions\): Promise<number\[\]>;/);
  assert.match(text, /clamp\(value: number, max: number\): Promise<number>;/);
  assert.match(text, /clamp\(value: number, min: number, max: number, callOptions\?: CallOptions\): Promise<number>;/);
  assert.not.match(text, /clamp\(value: number, fn/);
  assert.ok((await realworld()).notes.some((n) => /^src\/index\.ts:\d+: export clamp: overload 3 of 3 \(src\/lib\/numbers\.d\.ts:7\) left out: parameter "fn" of clamp: function-typed value/.test(n)));
  await ok('range', [5]);
  await ok('range', [1, 5, 2]);
  assert.equal(await check('range', [1, 'x']), [{ path: '/1', message: 'expected number' }]);
  assert.equal(await check('clamp', [1]), [{ path: '', message: 'expected at least 2 items' }]);
});

test('optional callbacks are not on the wire: left out of options and parameters, with a note; data around them stays', async () => {
  const r = await realworld();
  assert.equal(r.manifest.$defs!.WordsOptions, { type: 'object', properties: { separator: { type: 'string' } } });
  assert.equal((await target('retry')).params, [{ name: 'times' }]);
  assert.equal((await target('tagged')).params, [{ name: 'label' }, { name: 'format', optional: true }, { name: 'suffix', optional: true }]);
  await ok('tagged', ['x', undefined, '!']);
  assert.equal((await check('tagged', ['x', 'not a function either', '!']))[0]?.path, '/1');
  assert.equal((await target('lines')).args, { type: 'array', prefixItems: [{ type: 'string' }, { anyOf: [{ type: 'object', properties: { trim: { type: 'boolean' } } }, { type: 'undefined' }] }], minItems: 1, maxItems: 2 });
  for (const n of [/src\/lib\/numbers\.d\.ts:10: property "split": optional function-typed property left out/, /parameter "onRetry" of retry: optional function-typed parameter left out/,
    /parameter "format" of tagged: optional function-typed parameter takes only undefined/, /parameter "options" of lines: \(line: string\) => boolean left out of the argument type/]) {
    assert.ok(r.notes.some((x) => n.test(x)), `no note ${n}`);
  }
});

test('callable values are functions by their call signature; byte helper types are bytes', async () => {
  const hash = await target('hash');
  assert.equal({ params: hash.params, args: hash.args, returns: hash.returns }, {
    params: [{ name: 'msg' }], args: { type: 'array', prefixItems: [{ instanceof: 'Uint8Array' }], minItems: 1, maxItems: 1 }, returns: { instanceof: 'Uint8Array' },
  });
  assert.equal((await target('concatBytes')).args, { type: 'array', items: { instanceof: 'Uint8Array' }, minItems: 0 });
  assert.equal((await target('toHex')).args, { type: 'array', prefixItems: [{ instanceof: 'Uint8Array' }], minItems: 1, maxItems: 1 });
});

test('symbol keys never cross the wire: left out with a note, and the stubs still compile (host-types.test.ts)', async () => {
  const r = await realworld();
  assert.equal(r.manifest.$defs!.ParsedLink, { type: 'object', properties: { href: { type: 'string' } }, required: ['href'] });
  assert.match(await client(), /export type ParsedLink = \{ href: string \};/);
  assert.ok(r.notes.some((n) => /property \[relative\]: symbol-keyed property left out/.test(n)));
  assert.ok(r.notes.some((n) => /index signature: symbol index signature left out/.test(n)));
  assert.not.match(JSON.stringify(r.manifest) + (await client()), /__@/);
});

test('readonly arrays stay readonly in the stubs; object and {} accept arrays; Record<PropertyKey, any> is one index', async () => {
  const text = await client();
  assert.match(text, /mean\(xs: readonly number\[\], callOptions\?: CallOptions\)/);
  assert.match(text, /firstOf\(pair: readonly \[string, number\], callOptions\?: CallOptions\)/);
  assert.match(text, /keyCount\(o: \{ \[key: string\]: any \}, callOptions\?: CallOptions\)/);
  await ok('kindOf', [[1, 2]]);
  await ok('kindOf', [{ a: 1 }]);
  assert.equal(await check('kindOf', ['text']), [{ path: '/0', message: 'expected object | array' }]);
  await ok('present', [[1]]);
  await ok('present', ['text']);
  assert.equal((await check('present', [null])).map((i) => i.path), ['/0']);
  await ok('keyCount', [{ a: 1, b: 'x' }]);
});

test('plain data from the default library (Intl.DateTimeFormatOptions) is a named type with its literal unions', async () => {
  await ok('formatDay', [new Date(), { weekday: 'long', timeZone: 'UTC' }]);
  // Inside the optional argument's `T | undefined`: at the property.
  assert.equal(await check('formatDay', [new Date(), { weekday: 'longest' }]), [{ path: '/1/weekday', message: 'expected "long" | "short" | "narrow"' }]);
  assert.match(await client(), /formatDay\(d: Date, options\?: Intl_DateTimeFormatOptions/);
});

test('excluded exports are left out, and the summary says so', async () => {
  const r = await realworld();
  assert.not.ok('internalOnly' in r.manifest.targets);
  assert.match(r.summary, /excluded by package\.json "agentix\.exclude": internalOnly/);
});


test('an ES module project gets a package\'s import-condition typings, not its require ones', async () => {
  const pkg = JSON.stringify({ name: 'dual', version: '1.0.0', type: 'module', exports: { '.': { import: { types: './esm.d.ts', default: './esm.js' }, require: { types: './cjs.d.cts', default: './cjs.cjs' } } } });
  const p = tempProject({
    'src/index.ts': "export { pick } from 'dual';\n",
    'node_modules/dual/package.json': pkg,
    'node_modules/dual/esm.d.ts': 'export declare function pick(x: string): string;\n',
    'node_modules/dual/cjs.d.cts': 'export declare function pick(x: number): number;\n',
  });
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    assert.equal(r.manifest.targets.pick!.args, { type: 'array', prefixItems: [{ type: 'string' }], minItems: 1, maxItems: 1 });
  } finally {
    p.cleanup();
  }
});

test.run();
