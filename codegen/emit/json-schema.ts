/**
 * Type model → JSON Schema (TypeBox 1.x dialect: draft 2020-12 plus
 * `type: "bigint"` / `"undefined"`). Date and bytes use the
 * `instanceof` keyword (as in ajv-keywords), which `runtime/validate.ts`
 * turns into a check. Key order is fixed so output is byte-stable.
 */
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
 * tuples (a call must match one of them, as in TypeScript).
 */
export function argsSchema(signatures: SignatureModel[]): JsonSchema {
  return anyOfDistinct(signatures.map((s) => paramsSchema(s.params)));
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
  return tupleSchema(params.map((p) => {
    const schema = toSchema(p.type);
    const widen = p.optional && p.type.kind !== 'undefined';
    return { schema: widen ? { anyOf: [schema, { type: 'undefined' }] } : schema, optional: !!p.optional, rest: !!p.rest };
  }));
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
