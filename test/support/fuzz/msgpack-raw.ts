/**
 * msgpack written by hand, byte by byte, so the fuzzer can say things a
 * well-behaved encoder never would: an integer in a wider encoding than it
 * needs, a float where an integer belongs, a header that promises more than
 * follows, any ext type. Everything here follows the msgpack spec
 * (https://github.com/msgpack/msgpack/blob/master/spec.md) and nothing else.
 */
import type { Rng } from './rng.js';

export type Bytes = Buffer;

const b = (...xs: number[]) => Buffer.from(xs);

/** A non-negative integer in the given encoding (undefined: the smallest that fits). */
export function uint(n: number | bigint, width?: 'fix' | 8 | 16 | 32 | 64): Bytes {
  const v = BigInt(n);
  const w = width ?? (v < 128n ? 'fix' : v < 256n ? 8 : v < 65536n ? 16 : v < 0x1_0000_0000n ? 32 : 64);
  switch (w) {
    case 'fix': return b(Number(v) & 0x7f);
    case 8: return b(0xcc, Number(v) & 0xff);
    case 16: { const o = Buffer.alloc(3); o[0] = 0xcd; o.writeUInt16BE(Number(v & 0xffffn), 1); return o; }
    case 32: { const o = Buffer.alloc(5); o[0] = 0xce; o.writeUInt32BE(Number(v & 0xffff_ffffn), 1); return o; }
    case 64: { const o = Buffer.alloc(9); o[0] = 0xcf; o.writeBigUInt64BE(BigInt.asUintN(64, v), 1); return o; }
  }
}

/** A signed integer in the given signed encoding. */
export function sint(n: number | bigint, width: 'negfix' | 8 | 16 | 32 | 64): Bytes {
  const v = BigInt(n);
  switch (width) {
    case 'negfix': return b(0xe0 | (Number(v) & 0x1f));
    case 8: { const o = Buffer.alloc(2); o[0] = 0xd0; o.writeInt8(Number(BigInt.asIntN(8, v)), 1); return o; }
    case 16: { const o = Buffer.alloc(3); o[0] = 0xd1; o.writeInt16BE(Number(BigInt.asIntN(16, v)), 1); return o; }
    case 32: { const o = Buffer.alloc(5); o[0] = 0xd2; o.writeInt32BE(Number(BigInt.asIntN(32, v)), 1); return o; }
    case 64: { const o = Buffer.alloc(9); o[0] = 0xd3; o.writeBigInt64BE(BigInt.asIntN(64, v), 1); return o; }
  }
}

export function float64(x: number): Bytes {
  const o = Buffer.alloc(9);
  o[0] = 0xcb;
  o.writeDoubleBE(x, 1);
  return o;
}

export function float32(x: number): Bytes {
  const o = Buffer.alloc(5);
  o[0] = 0xca;
  o.writeFloatBE(x, 1);
  return o;
}

export const nil = (): Bytes => b(0xc0);
export const bool = (v: boolean): Bytes => b(v ? 0xc3 : 0xc2);

/** A header with a declared length `n`, in the given form (the body is the caller's). */
function lengthHeader(kind: 'str' | 'bin' | 'array' | 'map', n: number, form?: 'fix' | 8 | 16 | 32): Bytes {
  const f = form ?? (kind !== 'bin' && n < (kind === 'str' ? 32 : 16) ? 'fix' : n < 256 && kind !== 'array' && kind !== 'map' ? 8 : n < 65536 ? 16 : 32);
  const codes = { str: [0xa0, 0xd9, 0xda, 0xdb], bin: [-1, 0xc4, 0xc5, 0xc6], array: [0x90, -1, 0xdc, 0xdd], map: [0x80, -1, 0xde, 0xdf] }[kind];
  const idx = f === 'fix' ? 0 : f === 8 ? 1 : f === 16 ? 2 : 3;
  let code = codes[idx]!;
  // A form the kind lacks (bin has no fix, arrays and maps no 8): fall back to 16.
  if (code < 0) code = codes[2]!;
  if (code === 0xa0 || code === 0x90 || code === 0x80) return b(code | (n & (code === 0xa0 ? 0x1f : 0x0f)));
  if (code === 0xd9 || code === 0xc4) return b(code, n & 0xff);
  if (code === 0xda || code === 0xc5 || code === 0xdc || code === 0xde) { const o = Buffer.alloc(3); o[0] = code; o.writeUInt16BE(n & 0xffff, 1); return o; }
  const o = Buffer.alloc(5);
  o[0] = code;
  o.writeUInt32BE(n >>> 0, 1);
  return o;
}

export const strHeader = (n: number, form?: 'fix' | 8 | 16 | 32) => lengthHeader('str', n, form);
export const binHeader = (n: number, form?: 8 | 16 | 32) => lengthHeader('bin', n, form);
export const arrayHeader = (n: number, form?: 'fix' | 16 | 32) => lengthHeader('array', n, form);
export const mapHeader = (n: number, form?: 'fix' | 16 | 32) => lengthHeader('map', n, form);

export function str(s: string, form?: 'fix' | 8 | 16 | 32): Bytes {
  const body = Buffer.from(s, 'utf8');
  return Buffer.concat([strHeader(body.length, form), body]);
}

export function bin(data: Uint8Array, form?: 8 | 16 | 32): Bytes {
  return Buffer.concat([binHeader(data.length, form), data]);
}

export function array(items: Bytes[], form?: 'fix' | 16 | 32): Bytes {
  return Buffer.concat([arrayHeader(items.length, form), ...items]);
}

export function map(entries: [Bytes, Bytes][], form?: 'fix' | 16 | 32): Bytes {
  return Buffer.concat([mapHeader(entries.length, form), ...entries.flat()]);
}

/** An ext value: fixext when the length allows (1, 2, 4, 8, 16) unless `form` says otherwise. */
export function ext(type: number, data: Uint8Array, form?: 'fix' | 8 | 16 | 32): Bytes {
  const t = type & 0xff;
  const fixCodes: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  const f = form ?? (fixCodes[data.length] ? 'fix' : data.length < 256 ? 8 : data.length < 65536 ? 16 : 32);
  if (f === 'fix' && fixCodes[data.length]) return Buffer.concat([b(fixCodes[data.length]!, t), data]);
  if (f === 8 || (f === 'fix' && data.length < 256)) return Buffer.concat([b(0xc7, data.length & 0xff, t), data]);
  if (f === 16) { const o = Buffer.alloc(4); o[0] = 0xc8; o.writeUInt16BE(data.length & 0xffff, 1); o[3] = t; return Buffer.concat([o, data]); }
  const o = Buffer.alloc(6);
  o[0] = 0xc9;
  o.writeUInt32BE(data.length >>> 0, 1);
  o[5] = t;
  return Buffer.concat([o, data]);
}

/** An integer in a random but valid encoding for its value (the protocol allows any). */
export function anyUint(rng: Rng, n: number | bigint): Bytes {
  const v = BigInt(n);
  const widths: ('fix' | 8 | 16 | 32 | 64)[] = [];
  if (v < 128n) widths.push('fix');
  if (v < 256n) widths.push(8);
  if (v < 65536n) widths.push(16);
  if (v < 0x1_0000_0000n) widths.push(32);
  widths.push(64);
  const signed: Bytes[] = [];
  if (v < 128n) signed.push(sint(v, 8));
  if (v < 32768n) signed.push(sint(v, 16));
  if (v < 0x8000_0000n) signed.push(sint(v, 32));
  if (v < 0x8000_0000_0000_0000n) signed.push(sint(v, 64));
  if (rng.chance(0.2) && signed.length > 0) return rng.pick(signed);
  return uint(v, rng.pick(widths));
}
