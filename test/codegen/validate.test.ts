/**
 * runtime/worker/validate.ts against the schemas the compiler emits for the fixture
 * projects: valid values pass and broken ones fail at the expected JSON
 * pointer, after the same msgpack round trip the worker sees.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../../codegen/index.js';
import type { Manifest } from '../../runtime/manifest.js';
import { decode, encode } from '../../runtime/wire/codec.js';
import { compileValidator, type ValidationIssue } from '../../runtime/worker/validate.js';
import { fixturesDir } from './helpers.js';

const manifests = new Map<string, Manifest>();
async function manifestOf(fixture: string): Promise<Manifest> {
  if (!manifests.has(fixture)) manifests.set(fixture, (await generate({ projectDir: join(fixturesDir, fixture), write: false })).manifest);
  return manifests.get(fixture)!;
}

/** Validates `args` for `target` as the worker would: after encode → decode. */
async function check(fixture: string, target: string, args: unknown[]): Promise<ValidationIssue[]> {
  const m = await manifestOf(fixture);
  const t = m.targets[target];
  assert.ok(t, `no target ${target}`);
  return compileValidator(t.args, m.$defs)(decode(encode(args)));
}

async function returns(fixture: string, target: string, value: unknown): Promise<ValidationIssue[]> {
  const m = await manifestOf(fixture);
  return compileValidator(m.targets[target]!.returns, m.$defs)(decode(encode(value)));
}

const ok = (issues: ValidationIssue[]) => assert.equal(issues, []);

const prim = suite('validate: primitives, literals, enums, unions');
prim('valid values pass', async () => {
  ok(await check('primitives', 'echoString', ['x']));
  ok(await check('primitives', 'add', [1, 2.5]));
  ok(await check('primitives', 'double', [2n]));
  ok(await check('primitives', 'double', [2n ** 70n]));
  ok(await check('primitives', 'nothing', [null]));
  ok(await check('primitives', 'paint', ['green', 10]));
  ok(await check('primitives', 'pick', ['slow', 3, true]));
  ok(await check('primitives', 'maybe', [false]));
  ok(await check('primitives', 'maybe', [null]));
  ok(await check('primitives', 'opaque', [{ any: ['thing'] }]));
  ok(await check('primitives', 'loose', [undefined]));
});
prim('wrong primitives fail at the argument position', async () => {
  assert.equal(await check('primitives', 'echoString', [1]), [{ path: '/0', message: 'expected string' }]);
  assert.equal(await check('primitives', 'add', [1, '2']), [{ path: '/1', message: 'expected number' }]);
  assert.equal(await check('primitives', 'double', [2]), [{ path: '/0', message: 'expected bigint' }]);
  assert.equal(await check('primitives', 'paint', ['blue', 10]), [{ path: '/0', message: 'expected one of "red", "green"' }]);
  assert.equal(await check('primitives', 'paint', ['red', 2]), [{ path: '/1', message: 'expected one of 1, 10' }]);
  assert.equal(await check('primitives', 'pick', ['fast', 4, true]), [{ path: '/1', message: 'expected 1 | 2 | 3' }]);
  assert.equal(await check('primitives', 'pick', ['fast', 1, false]), [{ path: '/2', message: 'expected true' }]);
  assert.equal(await check('primitives', 'maybe', [3]), [{ path: '/0', message: 'expected null | string | boolean' }]);
});
prim('argument count: missing and extra arguments', async () => {
  assert.equal(await check('primitives', 'add', [1]), [{ path: '', message: 'expected at least 2 items' }]);
  assert.equal(await check('primitives', 'add', [1, 2, 3]), [{ path: '', message: 'expected at most 2 items' }]);
});

const struct = suite('validate: structures');
struct('interfaces from other files, optional properties, named enums of literals', async () => {
  ok(await check('structures', 'saveUser', [{ name: 'ann', tags: [] }]));
  ok(await check('structures', 'saveUser', [{ name: 'ann', tags: ['a'], age: 3, status: 'banned' }]));
  // an optional property may also be present as undefined (msgpack keeps it)
  ok(await check('structures', 'saveUser', [{ name: 'ann', tags: [], age: undefined }]));
  assert.equal(await check('structures', 'saveUser', [{ name: 'ann', tags: ['a', 'b', 3] }]), [{ path: '/0/tags/2', message: 'expected string' }]);
  assert.equal(await check('structures', 'saveUser', [{ tags: [] }]), [{ path: '/0/name', message: 'missing required property' }]);
  assert.equal(await check('structures', 'saveUser', [{ name: 'a', tags: [], status: 'gone' }]), [{ path: '/0/status', message: 'expected "active" | "banned"' }]);
});
struct('generic instantiation and recursion through $defs', async () => {
  ok(await check('structures', 'listUsers', [{ items: [{ name: 'a', tags: [] }], next: 'x' }]));
  assert.equal(await check('structures', 'listUsers', [{ items: [{ name: 'a', tags: [7] }] }]), [{ path: '/0/items/0/tags/0', message: 'expected string' }]);
  const tree = { value: 1, children: [{ value: 2, children: [{ value: 3, children: [] }] }] };
  ok(await check('structures', 'sum', [tree]));
  tree.children[0]!.children[0]!.value = 'x' as unknown as number;
  assert.equal(await check('structures', 'sum', [tree]), [{ path: '/0/children/0/children/0/value', message: 'expected number' }]);
});
struct('tuples with optional and rest elements', async () => {
  ok(await check('structures', 'pair', [['a']]));
  ok(await check('structures', 'pair', [['a', 2]]));
  assert.equal(await check('structures', 'pair', [['a', 'b']]), [{ path: '/0/1', message: 'expected number' }]);
  assert.equal(await check('structures', 'pair', [[]]), [{ path: '/0', message: 'expected at least 1 item' }]);
  ok(await check('structures', 'rows', [['a', 1, 2, 3]]));
  assert.equal(await check('structures', 'rows', [['a', 1, 'x']]), [{ path: '/0/2', message: 'expected number' }]);
});
struct('intersections, Record and index signatures', async () => {
  ok(await check('structures', 'person', [{ name: 'a', age: 1 }]));
  assert.equal(await check('structures', 'person', [{ name: 'a' }]), [{ path: '/0/age', message: 'missing required property' }]);
  ok(await check('structures', 'counts', [{ a: 1, b: 2 }]));
  assert.equal(await check('structures', 'counts', [{ a: 1, b: 'x' }]), [{ path: '/0/b', message: 'expected number' }]);
  ok(await check('structures', 'fixedKeys', [{ a: true, b: false }]));
  assert.equal(await check('structures', 'fixedKeys', [{ a: true }]), [{ path: '/0/b', message: 'missing required property' }]);
});

const special = suite('validate: Date, bytes, bigint, template literals (after msgpack)');
special('Date and Uint8Array/Buffer survive the round trip and are checked', async () => {
  ok(await check('special', 'tomorrow', [new Date()]));
  assert.equal(await check('special', 'tomorrow', ['2024-01-01']), [{ path: '/0', message: 'expected Date' }]);
  ok(await check('special', 'reverse', [new Uint8Array([1, 2])]));
  ok(await check('special', 'concat', [Buffer.from('a'), Buffer.from('b')]));
  assert.equal(await check('special', 'reverse', [[1, 2]]), [{ path: '/0', message: 'expected Uint8Array' }]);
  ok(await check('special', 'stamp', [{ at: new Date(), payload: Buffer.from('x'), size: 5n }]));
  assert.equal(await check('special', 'stamp', [{ at: new Date(), payload: 'x', size: 5 }]), [
    { path: '/0/payload', message: 'expected Uint8Array' },
    { path: '/0/size', message: 'expected bigint' },
  ]);
});
special('template literal types become patterns', async () => {
  ok(await returns('special', 'userId', 'user-42'));
  ok(await returns('special', 'userId', 'user--1.5e3'.replace('--', '-')));
  assert.equal((await returns('special', 'userId', 'user-x'))[0]?.path, '');
  ok(await check('special', 'route', ['/api/users']));
  assert.equal((await check('special', 'route', ['/admin/x']))[0]?.path, '/0');
});

const shapes = suite('validate: parameters');
shapes('optional and default parameters: minItems is the required count, undefined accepted', async () => {
  ok(await check('shapes', 'greet', ['ann']));
  ok(await check('shapes', 'greet', ['ann', '?']));
  ok(await check('shapes', 'greet', ['ann', undefined]));
  ok(await check('shapes', 'range', [1, undefined, 2]));
  assert.equal(await check('shapes', 'greet', []), [{ path: '', message: 'expected at least 1 item' }]);
  assert.equal(await check('shapes', 'greet', ['ann', 5]), [{ path: '/1', message: 'expected string | undefined' }]);
});
shapes('rest parameters', async () => {
  ok(await check('shapes', 'join', [',']));
  ok(await check('shapes', 'join', [',', 'a', 'b', 'c']));
  assert.equal(await check('shapes', 'join', [',', 'a', 2]), [{ path: '/2', message: 'expected string' }]);
});
shapes('bidi: args exclude the inbox; the inbox item has its own schema', async () => {
  const m = await manifestOf('shapes');
  ok(compileValidator(m.targets.chat!.args, m.$defs)(['> ']));
  assert.equal(compileValidator(m.targets.chat!.inbox, m.$defs)(3), [{ path: '', message: 'expected string' }]);
});
shapes('a target without schemas accepts anything', () => {
  ok(compileValidator(undefined)([1, 'x']));
  ok(compileValidator({})(null));
});
shapes('an unknown instanceof is a clear error at compile time', () => {
  assert.throws(() => compileValidator({ instanceof: 'Map' }), /unsupported "instanceof": "Map"/);
});

const unions = suite('validate: a failed union reports inside the member the value meant');
unions('an object where an object or an array of them is expected: the path inside the object', () => {
  const patch = { type: 'object', properties: { hunks: { type: 'array', items: { type: 'object', properties: { lines: { type: 'array', items: { type: 'string' } } }, required: ['lines'] } } }, required: ['hunks'] };
  const v = compileValidator({ type: 'array', prefixItems: [{ anyOf: [{ $ref: '#/$defs/Patch' }, { type: 'array', items: { $ref: '#/$defs/Patch' } }] }], minItems: 1, maxItems: 1 }, { Patch: patch });
  assert.equal(v([{ hunks: [{ lines: ['a', 7] }] }]), [{ path: '/0/hunks/0/lines/1', message: 'expected string' }]);
  assert.equal(v([[{ hunks: [{ lines: [7] }] }]]), [{ path: '/0/0/hunks/0/lines/0', message: 'expected string' }]);
  assert.equal(v([{ hunks: [{}] }]), [{ path: '/0/hunks/0/lines', message: 'missing required property' }]);
  // Of neither kind: the union's own message.
  assert.equal(v(['text']), [{ path: '/0', message: 'expected Patch | array' }]);
});
unions('an optional argument (T | undefined): the path inside T', () => {
  const v = compileValidator({ type: 'array', prefixItems: [{ anyOf: [{ type: 'object', properties: { weekday: { anyOf: [{ const: 'long' }, { const: 'short' }] } } }, { type: 'undefined' }] }], minItems: 0, maxItems: 1 });
  assert.equal(v([{ weekday: 'longest' }]), [{ path: '/0/weekday', message: 'expected "long" | "short"' }]);
  assert.equal(v([undefined]), []);
  assert.equal(v([5]), [{ path: '/0', message: 'expected object | undefined' }]);
});
unions('two members the value fits equally far: the union\'s own message', () => {
  const v = compileValidator({ anyOf: [{ type: 'object', properties: { a: { type: 'string' } } }, { type: 'object', properties: { a: { type: 'boolean' } } }] });
  assert.equal(v({ a: 1 }), [{ path: '', message: 'expected object | object' }]);
});

prim.run();
struct.run();
special.run();
shapes.run();
unions.run();
