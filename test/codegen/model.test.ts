/**
 * How TypeScript types map to manifest schemas and shapes, asserted on the
 * fixture projects (the full output is pinned by fixtures.test.ts; these
 * name the rules one by one).
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../../codegen/index.js';
import type { Manifest } from '../../runtime/manifest.js';
import { fixturesDir } from './helpers.js';

const cache = new Map<string, Manifest>();
async function manifest(fixture: string): Promise<Manifest> {
  if (!cache.has(fixture)) cache.set(fixture, (await generate({ projectDir: join(fixturesDir, fixture), write: false })).manifest);
  return cache.get(fixture)!;
}
const arg = (m: Manifest, target: string, i = 0) => (m.targets[target]!.args as { prefixItems: unknown[] }).prefixItems[i];

test('true | false folds back into boolean inside unions', async () => {
  const m = await manifest('primitives');
  assert.equal(arg(m, 'maybe'), { anyOf: [{ type: 'null' }, { type: 'string' }, { type: 'boolean' }] });
  assert.equal(arg(m, 'negate'), { type: 'boolean' });
});

test('enums are matched before unions and emitted once as named enum definitions', async () => {
  const m = await manifest('primitives');
  assert.equal(arg(m, 'paint', 0), { $ref: '#/$defs/Color' });
  assert.equal(m.$defs!.Color, { enum: ['red', 'green'] });
  assert.equal(m.$defs!.Level, { enum: [1, 10] });
});

test('literal types are consts; bigint is TypeBox bigint; unknown and any are open', async () => {
  const m = await manifest('primitives');
  assert.equal(arg(m, 'pick', 1), { anyOf: [{ const: 1 }, { const: 2 }, { const: 3 }] });
  assert.equal(arg(m, 'pick', 2), { const: true });
  assert.equal(arg(m, 'double'), { type: 'bigint' });
  assert.equal(arg(m, 'opaque'), {});
  assert.equal(arg(m, 'loose'), {});
});

test('optional properties drop | undefined and are not required; named types from other files are $defs', async () => {
  const m = await manifest('structures');
  assert.equal(m.$defs!.User, {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } }, status: { $ref: '#/$defs/Status' } },
    required: ['name', 'tags'],
  });
  assert.equal(m.$defs!.Status, { anyOf: [{ const: 'active' }, { const: 'banned' }] });
});

test('recursive types go through $defs/$ref; generic instantiations get their own definition', async () => {
  const m = await manifest('structures');
  assert.equal((m.$defs!.Tree as { properties: { children: unknown } }).properties.children, { type: 'array', items: { $ref: '#/$defs/Tree' } });
  assert.equal(arg(m, 'listUsers'), { $ref: '#/$defs/Page_User' });
  assert.equal((m.$defs!.Page_User as { properties: { items: unknown } }).properties.items, { type: 'array', items: { $ref: '#/$defs/User' } });
});

test('tuples: optional elements lower minItems, rest elements become items', async () => {
  const m = await manifest('structures');
  assert.equal(arg(m, 'pair'), { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], minItems: 1, maxItems: 2 });
  assert.equal(arg(m, 'rows'), { type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'number' }, minItems: 1 });
});

test('intersections of objects merge; Record and index signatures become additionalProperties', async () => {
  const m = await manifest('structures');
  assert.equal(arg(m, 'person'), { type: 'object', properties: { name: { type: 'string' }, age: { type: 'number' } }, required: ['name', 'age'] });
  assert.equal(arg(m, 'counts'), { type: 'object', additionalProperties: { type: 'number' } });
  assert.equal(arg(m, 'fixedKeys'), { type: 'object', properties: { a: { type: 'boolean' }, b: { type: 'boolean' } }, required: ['a', 'b'] });
});

test('Date and bytes use instanceof; template literal types become anchored patterns', async () => {
  const m = await manifest('special');
  assert.equal(arg(m, 'tomorrow'), { instanceof: 'Date' });
  assert.equal(arg(m, 'reverse'), { instanceof: 'Uint8Array' });
  assert.equal(arg(m, 'concat'), { instanceof: 'Uint8Array' });
  assert.equal(m.targets.userId!.returns, { type: 'string', pattern: '^user-[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?$' });
});

test('shapes: Promise unwrapped, stream items, bidi inbox excluded from params', async () => {
  const m = await manifest('shapes');
  assert.equal({ shape: m.targets.greet!.shape, returns: m.targets.greet!.returns }, { shape: 'unary', returns: { type: 'string' } });
  assert.equal({ shape: m.targets.count!.shape, returns: m.targets.count!.returns }, { shape: 'stream', returns: { type: 'number' } });
  const chat = m.targets.chat!;
  assert.equal({ shape: chat.shape, params: chat.params, inbox: chat.inbox, inboxIndex: chat.inboxIndex, returns: chat.returns },
    { shape: 'bidi', params: [{ name: 'prefix' }], inbox: { type: 'string' }, inboxIndex: 1, returns: { type: 'string' } });
  assert.equal(m.targets.chat!.args, { type: 'array', prefixItems: [{ type: 'string' }], minItems: 1, maxItems: 1 });
});

test('optional and default parameters: minItems is the required count; rest parameters are items', async () => {
  const m = await manifest('shapes');
  assert.equal(m.targets.greet!.params, [{ name: 'name' }, { name: 'punctuation', optional: true }]);
  assert.equal(m.targets.greet!.args, { type: 'array', prefixItems: [{ type: 'string' }, { anyOf: [{ type: 'string' }, { type: 'undefined' }] }], minItems: 1, maxItems: 2 });
  assert.equal(m.targets.join!.params, [{ name: 'separator' }, { name: 'parts', rest: true }]);
  assert.equal(m.targets.join!.args, { type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'string' }, minItems: 1 });
});

test('export forms: re-exports, renames, export *, const arrows, default; overloads as declared (not the implementation), folded where exact', async () => {
  const m = await manifest('shapes');
  assert.equal(Object.keys(m.targets), ['chat', 'count', 'default', 'exposed', 'format', 'fromOther', 'fromStar', 'greet', 'join', 'range', 'shout', 'square']);
  // format(x: number) / format(x: string): one position differs, so one tuple with a union there.
  assert.equal(m.targets.format!.args, { type: 'array', prefixItems: [{ anyOf: [{ type: 'number' }, { type: 'string' }] }], minItems: 1, maxItems: 1 });
  assert.equal({ module: m.targets.exposed!.module, export: m.targets.exposed!.export }, { module: 'app', export: 'exposed' });
  assert.equal(m.modules, { app: 'src/index.ts' });
});


test('overloads fold into one tuple only where that accepts nothing more; otherwise anyOf', async () => {
  const { argsSchema } = await import('../../codegen/emit/json-schema.js');
  const n = { kind: 'number' } as const, s = { kind: 'string' } as const;
  const sig = (...params: { name: string; type: typeof n | typeof s; optional?: boolean }[]) => ({ params, returns: n });
  // Same types, lengths [1,1] and [2,3] join up: one tuple, minItems 1.
  assert.equal(argsSchema([sig({ name: 'end', type: n }), sig({ name: 'start', type: n }, { name: 'end', type: n }, { name: 'step', type: n, optional: true })]),
    { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }, { anyOf: [{ type: 'number' }, { type: 'undefined' }] }], minItems: 1, maxItems: 3 });
  // A gap in the lengths (1 and 3): folding would accept two arguments, which no overload does.
  assert.ok('anyOf' in argsSchema([sig({ name: 'a', type: n }), sig({ name: 'a', type: n }, { name: 'b', type: n }, { name: 'c', type: n })]));
  // Different types and different lengths: not one position's union.
  assert.ok('anyOf' in argsSchema([sig({ name: 'a', type: s }), sig({ name: 'a', type: n }, { name: 'b', type: n })]));
  // An optional position in one overload and a required one in another: explicit undefined would leak through.
  assert.ok('anyOf' in argsSchema([sig({ name: 'a', type: n }, { name: 'b', type: n, optional: true }), sig({ name: 'a', type: n }, { name: 'b', type: n }, { name: 'c', type: n })]));
});

test.run();
