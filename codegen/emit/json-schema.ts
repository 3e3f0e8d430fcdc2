/**
 * Type model → JSON Schema (TypeBox 1.x dialect: draft 2020-12 plus
 * `type: "bigint"` / `"undefined"`). Date and bytes use the
 * `instanceof` keyword (as in ajv-keywords), which `runtime/validate.ts`
 * turns into a check. Key order is fixed so output is byte-stable.
 */
import { sameModel, unionOf } from '../model/merge.js';
import type { ParamModel, SignatureModel, TypeModel } from '../model/types.js';

export type JsonSchema = Record<string, unknown>;

export function toSchema(m: TypeModel): JsonSchema {
  switch (m.kind) {
    case 'string': case 'number': case 'boolean': case 'bigint': case 'null': case 'undefined':
      return { type: m.kind };
    case 'void':
      // TypeScript lets a `() => void` function return anything; void means "don't look".
      return {};
    case 'unknown': case 'any':
      return {};
    case 'never':
      return { not: {} };
    case 'nonPrimitive':
      // `object`: Dates and bytes decode as objects too.
      return { type: ['object', 'array'] };
    case 'nonNullish':
      return { not: { type: ['null', 'undefined'] } };
    case 'literal':
      return { const: m.value };
    case 'enum':
      return { enum: m.members.map((x) => x.value) };
    case 'array':
      return { type: 'array', items: toSchema(m.items) };
    case 'tuple':
      return tupleSchema(m.elements.map((e) => ({ schema: toSchema(e.type), optional: !!e.optional, rest: !!e.rest })));
    case 'object': {
      const s: JsonSchema = { type: 'object' };
      if (m.properties.length > 0) s.properties = Object.fromEntries(m.properties.map((p) => [p.name, toSchema(p.type)]));
      const required = m.properties.filter((p) => !p.optional).map((p) => p.name);
      if (required.length > 0) s.required = required;
      if (m.index && m.index.kind !== 'unknown' && m.index.kind !== 'any') s.additionalProperties = toSchema(m.index);
      return s;
    }
    case 'union':
      return { anyOf: m.members.map(toSchema) };
    case 'intersection':
      return { allOf: m.members.map(toSchema) };
    case 'date':
      return { instanceof: 'Date' };
    case 'bytes':
      return { instanceof: 'Uint8Array' };
    case 'template':
      return { type: 'string', pattern: `^${m.parts.map(patternOf).join('')}$` };
    case 'ref':
      return { $ref: `#/$defs/${m.name}` };
  }
}

interface Slot { schema: JsonSchema; optional: boolean; rest: boolean }

/** Tuples and argument lists: `prefixItems`, `minItems` = the required count, `maxItems` unless a rest. */
function tupleSchema(slots: Slot[]): JsonSchema {
  const fixed = slots.filter((s) => !s.rest);
  const rest = slots.find((s) => s.rest);
  const s: JsonSchema = { type: 'array' };
  if (fixed.length > 0) s.prefixItems = fixed.map((x) => x.schema);
  if (rest) s.items = rest.schema;
  s.minItems = fixed.filter((x) => !x.optional).length;
  if (!rest) s.maxItems = fixed.length;
  return s;
}

/**
 * The argument tuple of a target: one tuple, or `anyOf` the overloads'
 * tuples (a call must match one of them, as in TypeScript). Overloads that
 * fold into one tuple without accepting anything more (`range(end)` /
 * `range(start, end, step?)`) are folded: a failing call is then reported at
 * the argument, not as "expected array | array".
 */
export function argsSchema(signatures: SignatureModel[]): JsonSchema {
  const distinct = [...new Map(signatures.map((s) => [JSON.stringify(s.params), s.params])).values()];
  if (distinct.length === 1) return paramsSchema(distinct[0]!);
  const folded = foldOverloads(distinct);
  return folded ? tupleSchema(folded) : anyOfDistinct(distinct.map(paramsSchema));
}

/**
 * One tuple accepting exactly what the overloads accept together, or
 * undefined. Two cases fold: the same types position by position with
 * lengths that join up (each position optional in all overloads that have it,
 * or in none), or the same shape differing at one position (a union there).
 */
function foldOverloads(lists: ParamModel[][]): Slot[] | undefined {
  if (lists.some((l) => l.some((p) => p.rest))) return undefined;
  const longest = Math.max(...lists.map((l) => l.length));
  const differing: number[] = [];
  for (let i = 0; i < longest; i++) {
    const here = lists.filter((l) => l.length > i).map((l) => l[i]!);
    if (here.some((p) => !!p.optional !== !!here[0]!.optional)) return undefined;
    if (here.some((p) => !sameModel(p.type, here[0]!.type))) differing.push(i);
  }
  const required = (l: ParamModel[]) => l.filter((p) => !p.optional).length;
  if (differing.length === 0) {
    // Lengths [required, all] of each overload must join into one range, or the fold would accept a length none does.
    const ranges = lists.map((l) => [required(l), l.length] as const).sort((a, b) => a[0] - b[0]);
    let reach = ranges[0]![1];
    for (const [from, to] of ranges.slice(1)) {
      if (from > reach + 1) return undefined;
      reach = Math.max(reach, to);
    }
    const min = ranges[0]![0];
    const long = lists.find((l) => l.length === longest)!;
    return long.map((p, i) => ({ schema: paramSchema(p), optional: i >= min, rest: false }));
  }
  const sameShape = lists.every((l) => l.length === longest);
  if (differing.length !== 1 || !sameShape) return undefined;
  const at = differing[0]!;
  return lists[0]!.map((p, i) => {
    if (i !== at) return { schema: paramSchema(p), optional: !!p.optional, rest: false };
    const union = unionOf(lists.map((l) => l[at]!.type));
    return { schema: paramSchema({ ...p, type: union }), optional: !!p.optional, rest: false };
  });
}

/** The result (or stream item) schema: `anyOf` the overloads' results when they differ. */
export function returnsSchema(signatures: SignatureModel[]): JsonSchema {
  return anyOfDistinct(signatures.map((s) => toSchema(s.returns)));
}

function anyOfDistinct(schemas: JsonSchema[]): JsonSchema {
  const distinct = [...new Map(schemas.map((s) => [JSON.stringify(s), s])).values()];
  return distinct.length === 1 ? distinct[0]! : { anyOf: distinct };
}

/**
 * One argument tuple. An optional parameter also accepts an explicit
 * `undefined` (msgpack keeps it, so `f(undefined, 2)` arrives as is).
 */
function paramsSchema(params: ParamModel[]): JsonSchema {
  return tupleSchema(params.map((p) => ({ schema: paramSchema(p), optional: !!p.optional, rest: !!p.rest })));
}

function paramSchema(p: ParamModel): JsonSchema {
  const schema = toSchema(p.type);
  return p.optional && p.type.kind !== 'undefined' ? { anyOf: [schema, { type: 'undefined' }] } : schema;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function patternOf(part: string | TypeModel): string {
  if (typeof part === 'string') return escapeRegExp(part);
  switch (part.kind) {
    case 'string': return '.*';
    case 'number': return '[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?';
    case 'bigint': return '-?\\d+';
    case 'boolean': return '(?:true|false)';
    case 'null': return 'null';
    case 'undefined': case 'void': return 'undefined';
    case 'literal': return escapeRegExp(String(part.value));
    case 'union': return `(?:${part.members.map(patternOf).join('|')})`;
    case 'template': return part.parts.map(patternOf).join('');
    default: return '.*';
  }
}
