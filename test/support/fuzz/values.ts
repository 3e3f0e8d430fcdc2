/**
 * Values for the fuzzer's arguments and inbox items:
 *   - `validFor(schema)`: a value the target's JSON schema (from the manifest)
 *     accepts, so calls get past validation and run user code;
 *   - `anyValue()`: any JS value the codec can carry, valid or not;
 *   - `exoticRaw()`: raw msgpack a JS encoder would never write (ext types,
 *     wide integer encodings, lying headers, reference extensions).
 * Values the good client checks round-trip exactly; `exactValue()` makes only
 * those (no -0, no `__proto__` keys, no lone surrogates, no undefined).
 */
import * as M from './msgpack-raw.js';
import type { Rng } from './rng.js';

type Schema = Record<string, unknown>;

const WORDS = ['', 'a', 'hello', 'ünïcødé', '💥', 'x'.repeat(40), 'line\nbreak', '\u0000nul', 'toString', 'constructor', '__proto__', 'hasOwnProperty'];

export function anyString(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(WORDS);
  const n = rng.size(200);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.9) ? rng.int(32, 126) : rng.int(0, 0xffff));
  return s;
}

export function anyNumber(rng: Rng): number {
  return rng.weighted<() => number>([
    [4, () => rng.int(-1000, 1000)],
    [2, () => rng.float() * 1e6 - 5e5],
    [1, () => rng.pick([0, -0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN, 0.5, 1e-300])],
  ])();
}

/** Any value the codec can carry, nested at most `depth` deep. */
export function anyValue(rng: Rng, depth = 3): unknown {
  const leaf = depth <= 0;
  return rng.weighted<() => unknown>([
    [3, () => anyNumber(rng)],
    [3, () => anyString(rng)],
    [1, () => rng.chance(0.5)],
    [1, () => null],
    [1, () => undefined],
    [1, () => BigInt(rng.int(-1e6, 1e6)) * (rng.chance(0.3) ? 2n ** 70n : 1n)],
    [1, () => new Date(rng.chance(0.9) ? rng.int(0, 2e12) : NaN)],
    [1, () => rng.bytes(rng.size(512))],
    [1, () => typedArray(rng)],
    [leaf ? 0 : 2, () => Array.from({ length: rng.size(12) }, () => anyValue(rng, depth - 1))],
    [leaf ? 0 : 2, () => Object.fromEntries(Array.from({ length: rng.size(8) }, () => [anyString(rng), anyValue(rng, depth - 1)]))],
  ])();
}

function typedArray(rng: Rng): ArrayBufferView {
  const n = rng.size(32);
  const buf = rng.bytes(n * 8);
  const make = rng.pick([
    () => new Int8Array(buf.buffer, buf.byteOffset, n),
    () => new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n * 2)),
    () => new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n * 4)),
    () => new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n * 8)),
    () => new BigInt64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n * 8)),
    () => new DataView(buf.buffer, buf.byteOffset, n),
  ]);
  return make();
}

/** A value that arrives exactly as sent (the good client compares with deep equality). */
export function exactValue(rng: Rng, depth = 3): unknown {
  const leaf = depth <= 0;
  return rng.weighted<() => unknown>([
    [3, () => rng.int(-1e6, 1e6)],
    [1, () => rng.int(-1e6, 1e6) + 0.5],
    [3, () => exactString(rng)],
    [1, () => rng.chance(0.5)],
    [1, () => null],
    [1, () => BigInt(rng.int(-1e6, 1e6)) * 2n ** 40n],
    [1, () => new Date(rng.int(0, 2e12))],
    [1, () => Buffer.from(rng.bytes(rng.size(256)))],
    [leaf ? 0 : 2, () => Array.from({ length: rng.size(10) }, () => exactValue(rng, depth - 1))],
    [leaf ? 0 : 2, () => Object.fromEntries(Array.from({ length: rng.size(6) }, (_, i) => [`k${i}_${exactString(rng).slice(0, 8)}`, exactValue(rng, depth - 1)]))],
  ])();
}

function exactString(rng: Rng): string {
  const n = rng.size(64);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.95) ? rng.int(32, 126) : rng.int(0xa0, 0xd7ff));
  return s;
}

/**
 * A value that `schema` accepts (JSON schema in the manifest's TypeBox
 * dialect: type, prefixItems/items, properties/required, anyOf, const, enum,
 * $ref into `defs`, instanceof). Depth-bounded for recursive schemas.
 */
export function validFor(rng: Rng, schema: unknown, defs: Record<string, unknown> = {}, depth = 4): unknown {
  if (typeof schema !== 'object' || schema === null) return anyValue(rng, 2);
  const s = schema as Schema;
  if (typeof s.$ref === 'string') return validFor(rng, defs[s.$ref.replace('#/$defs/', '')], defs, depth - 1);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum)) return rng.pick(s.enum);
  if (Array.isArray(s.anyOf)) return validFor(rng, rng.pick(s.anyOf), defs, depth);
  if (s.instanceof === 'Date') return new Date(rng.int(0, 2e12));
  if (s.instanceof === 'Uint8Array') return rng.bytes(rng.size(2048));
  switch (s.type) {
    case 'number': return rng.chance(0.8) ? rng.int(-1000, 1000) : anyNumber(rng);
    case 'integer': return rng.int(-1000, 1000);
    case 'string': return anyString(rng);
    case 'boolean': return rng.chance(0.5);
    case 'null': return null;
    case 'undefined': return undefined;
    case 'bigint': return BigInt(rng.int(-1e9, 1e9));
    case 'array': {
      if (Array.isArray(s.prefixItems)) {
        const min = typeof s.minItems === 'number' ? s.minItems : s.prefixItems.length;
        const n = rng.int(min, s.prefixItems.length);
        return s.prefixItems.slice(0, n).map((p) => validFor(rng, p, defs, depth));
      }
      const n = depth <= 0 ? 0 : rng.size(6);
      return Array.from({ length: n }, () => validFor(rng, s.items, defs, depth - 1));
    }
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = new Set((s.required as string[] | undefined) ?? []);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(props)) if (required.has(k) || rng.chance(0.5)) out[k] = validFor(rng, v, defs, depth - 1);
      return out;
    }
    default: return anyValue(rng, 2);
  }
}

/** Raw msgpack for an awkward value: every ext type, wide encodings, lying headers, references. */
export function exoticRaw(rng: Rng, depth = 2): Buffer {
  return rng.weighted<() => Buffer>([
    [2, () => M.anyUint(rng, rng.pick([0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 + 1]))],
    [1, () => M.uint(rng.pick([2n ** 63n, 2n ** 64n - 1n]), 64)],
    [1, () => M.sint(-rng.int(1, 2 ** 31), rng.pick([8, 16, 32, 64] as const))],
    [1, () => M.float32(anyNumber(rng))],
    [1, () => M.float64(anyNumber(rng))],
    [1, () => M.str(anyString(rng), rng.pick(['fix', 8, 16, 32] as const))],
    [1, () => M.bin(rng.bytes(rng.size(64)), rng.pick([8, 16, 32] as const))],
    // a known ext type with random data: timestamps of bad lengths, typed arrays of bad kinds, bigints
    [3, () => M.ext(rng.pick([-1, 0x00, 0x42, 0x74, 0x73, 0x78, 0x65, 0x62, 0x72, 0x69, 0x70]), rng.bytes(rng.pick([0, 1, 2, 3, 4, 8, 12, 16, 17])), rng.pick(['fix', 8, 16, 32] as const))],
    [1, () => M.ext(rng.int(-128, 127), rng.bytes(rng.size(40)))],
    // ext types whose data is more msgpack (Set, RegExp, Error, a record definition)
    [2, () => Buffer.concat([Buffer.from([0xd4, rng.pick([0x73, 0x78, 0x65, 0x72]), rng.int(0, 255)]), depth > 0 ? exoticRaw(rng, depth - 1) : M.array([M.str(rng.pick(['(a+)+$', '__proto__', 'Error', 'x'])), M.str(rng.pick(['', 'g', 'zz', 'TypeError']))])])],
    // reference extensions (structured clone): an id, and pointers to it or to nothing
    [2, () => refs(rng)],
    // headers that promise more than follows
    [2, () => Buffer.concat([rng.pick([M.strHeader(0xffff_ffff, 32), M.binHeader(0x7fff_ffff, 32), M.arrayHeader(0xffff_ffff, 32), M.mapHeader(0xffff_ffff, 32), Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01])]), rng.bytes(rng.size(8))])],
    [1, () => Buffer.from([rng.pick([0xc1, 0xc0, 0xc2, 0xc3])])],
    [depth > 0 ? 2 : 0, () => M.array(Array.from({ length: rng.size(6) }, () => exoticRaw(rng, depth - 1)), rng.pick(['fix', 16, 32] as const))],
    [depth > 0 ? 1 : 0, () => M.map(Array.from({ length: rng.size(4) }, () => [rng.chance(0.7) ? M.str(anyString(rng)) : exoticRaw(rng, 0), exoticRaw(rng, depth - 1)] as [Buffer, Buffer]))],
  ])();
}

/** msgpackr's structured-clone extensions: 0x69 gives the next value an id, 0x70 points to one. Small, so a cycle or DAG stays cheap here. */
function refs(rng: Rng): Buffer {
  const id = (n: number) => { const o = Buffer.alloc(4); o.writeUInt32BE(n); return o; };
  return rng.weighted<() => Buffer>([
    [1, () => Buffer.concat([M.ext(0x69, id(1)), M.array([M.uint(1), M.ext(0x70, id(1))])])], // a cyclic array
    [1, () => M.ext(0x70, id(rng.int(0, 5)))], // a pointer to nothing
    [1, () => Buffer.concat([M.ext(0x69, id(2)), M.map([[M.str('self'), M.ext(0x70, id(2))]])])], // a cyclic map
    [1, () => {
      // a DAG a few levels deep: each level holds the next twice
      const levels = rng.int(1, 8);
      const parts: Buffer[] = [];
      for (let k = 1; k < levels; k++) parts.push(M.ext(0x69, id(k)), M.arrayHeader(2));
      parts.push(M.ext(0x69, id(levels)), M.uint(1));
      for (let k = levels - 1; k >= 1; k--) parts.push(M.ext(0x70, id(k + 1)));
      return Buffer.concat(parts);
    }],
  ])();
}
