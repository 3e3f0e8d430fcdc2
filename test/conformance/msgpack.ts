/**
 * A msgpack reader and writer that keeps what a JavaScript value loses: which
 * integer or float encoding was on the wire, bin vs str bytes, ext types, map
 * pair order. The conformance replayer compares frames at this level so a
 * transcript can say "an int64" or "a float64 1.0", which msgpackr's decoded
 * values cannot tell apart. Written from the msgpack spec, not from the runtime.
 */

export type IntEnc = 'fixint' | 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'i64';
export type FloatEnc = 'f32' | 'f64';

export type Wire =
  | { t: 'nil' }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: bigint; enc: IntEnc }
  | { t: 'float'; v: number; enc: FloatEnc }
  | { t: 'str'; bytes: Uint8Array }
  | { t: 'bin'; v: Uint8Array }
  | { t: 'ext'; type: number; data: Uint8Array }
  | { t: 'array'; v: Wire[] }
  | { t: 'map'; v: [Wire, Wire][] }
  /** Bytes spliced in as they are (writing only): deliberately malformed frames. */
  | { t: 'raw'; bytes: Uint8Array }
  /** An array of `count` copies of one value (writing only): large frames without a large transcript. */
  | { t: 'arrayOf'; item: Wire; count: number };

const RANGES: Record<IntEnc, [bigint, bigint]> = {
  fixint: [-32n, 127n],
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffffffffn],
  u64: [0n, 0xffffffffffffffffn],
  i8: [-0x80n, 0x7fn],
  i16: [-0x8000n, 0x7fffn],
  i32: [-0x80000000n, 0x7fffffffn],
  i64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

export const INT_ENCODINGS = Object.keys(RANGES) as IntEnc[];

export function fitsInt(v: bigint, enc: IntEnc): boolean {
  const [lo, hi] = RANGES[enc];
  return v >= lo && v <= hi;
}

/** The shortest encoding msgpack allows for an integer. */
export function shortestInt(v: bigint): IntEnc {
  if (fitsInt(v, 'fixint')) return 'fixint';
  const order: IntEnc[] = v >= 0n ? ['u8', 'u16', 'u32', 'u64'] : ['i8', 'i16', 'i32', 'i64'];
  for (const enc of order) if (fitsInt(v, enc)) return enc;
  throw new RangeError(`integer ${v} does not fit in 64 bits`);
}

class Writer {
  private chunks: Buffer[] = [];
  bytes(b: Uint8Array): void {
    this.chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  byte(...b: number[]): void {
    this.chunks.push(Buffer.from(b));
  }
  uint(n: number, size: 1 | 2 | 4): void {
    const b = Buffer.alloc(size);
    b.writeUIntBE(n, 0, size);
    this.chunks.push(b);
  }
  done(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeLength(w: Writer, n: number, fix: { base: number; max: number } | null, codes: [number, number, number] | [null, number, number]): void {
  if (fix && n <= fix.max) return w.byte(fix.base | n);
  const [c8, c16, c32] = codes;
  if (c8 !== null && n <= 0xff) return (w.byte(c8), w.uint(n, 1));
  if (n <= 0xffff) return (w.byte(c16), w.uint(n, 2));
  if (n <= 0xffffffff) return (w.byte(c32), w.uint(n, 4));
  throw new RangeError(`length ${n} exceeds msgpack's 2^32-1`);
}

function writeInt(w: Writer, v: bigint, enc: IntEnc): void {
  if (!fitsInt(v, enc)) throw new RangeError(`integer ${v} does not fit ${enc}`);
  const b = Buffer.alloc(9);
  switch (enc) {
    case 'fixint':
      return w.byte(v >= 0n ? Number(v) : 0x100 + Number(v));
    case 'u8': b[0] = 0xcc; b.writeUInt8(Number(v), 1); return w.bytes(b.subarray(0, 2));
    case 'u16': b[0] = 0xcd; b.writeUInt16BE(Number(v), 1); return w.bytes(b.subarray(0, 3));
    case 'u32': b[0] = 0xce; b.writeUInt32BE(Number(v), 1); return w.bytes(b.subarray(0, 5));
    case 'u64': b[0] = 0xcf; b.writeBigUInt64BE(v, 1); return w.bytes(b);
    case 'i8': b[0] = 0xd0; b.writeInt8(Number(v), 1); return w.bytes(b.subarray(0, 2));
    case 'i16': b[0] = 0xd1; b.writeInt16BE(Number(v), 1); return w.bytes(b.subarray(0, 3));
    case 'i32': b[0] = 0xd2; b.writeInt32BE(Number(v), 1); return w.bytes(b.subarray(0, 5));
    case 'i64': b[0] = 0xd3; b.writeBigInt64BE(v, 1); return w.bytes(b);
  }
}

function writeValue(w: Writer, x: Wire): void {
  switch (x.t) {
    case 'nil': return w.byte(0xc0);
    case 'bool': return w.byte(x.v ? 0xc3 : 0xc2);
    case 'int': return writeInt(w, x.v, x.enc);
    case 'float': {
      const b = Buffer.alloc(x.enc === 'f32' ? 5 : 9);
      if (x.enc === 'f32') (b[0] = 0xca, b.writeFloatBE(x.v, 1));
      else (b[0] = 0xcb, b.writeDoubleBE(x.v, 1));
      return w.bytes(b);
    }
    case 'str': writeLength(w, x.bytes.length, { base: 0xa0, max: 31 }, [0xd9, 0xda, 0xdb]); return w.bytes(x.bytes);
    case 'bin': writeLength(w, x.v.length, null, [0xc4, 0xc5, 0xc6]); return w.bytes(x.v);
    case 'ext': {
      const n = x.data.length;
      const fixCode = ({ 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 } as Record<number, number>)[n];
      if (fixCode !== undefined) w.byte(fixCode);
      else writeLength(w, n, null, [0xc7, 0xc8, 0xc9]);
      w.byte(x.type & 0xff);
      return w.bytes(x.data);
    }
    case 'array':
      writeLength(w, x.v.length, { base: 0x90, max: 15 }, [null, 0xdc, 0xdd]);
      for (const item of x.v) writeValue(w, item);
      return;
    case 'map':
      writeLength(w, x.v.length, { base: 0x80, max: 15 }, [null, 0xde, 0xdf]);
      for (const [k, v] of x.v) (writeValue(w, k), writeValue(w, v));
      return;
    case 'raw': return w.bytes(x.bytes);
    case 'arrayOf': {
      writeLength(w, x.count, { base: 0x90, max: 15 }, [null, 0xdc, 0xdd]);
      const one = encodeWire(x.item);
      if (x.count > 0) w.bytes(Buffer.alloc(one.length * x.count, one));
      return;
    }
  }
}

export function encodeWire(x: Wire): Buffer {
  const w = new Writer();
  writeValue(w, x);
  return w.done();
}

export class DecodeError extends Error {}

class Reader {
  pos = 0;
  constructor(private buf: Buffer) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DecodeError(`truncated at byte ${this.pos}: need ${n} more`);
  }
  take(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(): number { return this.take(1)[0]!; }
  u16(): number { return this.take(2).readUInt16BE(0); }
  u32(): number { return this.take(4).readUInt32BE(0); }
}

function readValue(r: Reader, depth: number): Wire {
  if (depth > 10_000) throw new DecodeError('nesting deeper than 10000');
  const at = r.pos;
  const c = r.u8();
  const int = (v: bigint | number, enc: IntEnc): Wire => ({ t: 'int', v: BigInt(v), enc });
  if (c <= 0x7f) return int(c, 'fixint');
  if (c >= 0xe0) return int(c - 0x100, 'fixint');
  if ((c & 0xf0) === 0x80) return readMap(r, c & 0x0f, depth);
  if ((c & 0xf0) === 0x90) return readArray(r, c & 0x0f, depth);
  if ((c & 0xe0) === 0xa0) return { t: 'str', bytes: Uint8Array.from(r.take(c & 0x1f)) };
  switch (c) {
    case 0xc0: return { t: 'nil' };
    case 0xc2: return { t: 'bool', v: false };
    case 0xc3: return { t: 'bool', v: true };
    case 0xc4: return { t: 'bin', v: Uint8Array.from(r.take(r.u8())) };
    case 0xc5: return { t: 'bin', v: Uint8Array.from(r.take(r.u16())) };
    case 0xc6: return { t: 'bin', v: Uint8Array.from(r.take(r.u32())) };
    case 0xc7: return readExt(r, r.u8());
    case 0xc8: return readExt(r, r.u16());
    case 0xc9: return readExt(r, r.u32());
    case 0xca: return { t: 'float', v: r.take(4).readFloatBE(0), enc: 'f32' };
    case 0xcb: return { t: 'float', v: r.take(8).readDoubleBE(0), enc: 'f64' };
    case 0xcc: return int(r.u8(), 'u8');
    case 0xcd: return int(r.u16(), 'u16');
    case 0xce: return int(r.u32(), 'u32');
    case 0xcf: return int(r.take(8).readBigUInt64BE(0), 'u64');
    case 0xd0: return int(r.take(1).readInt8(0), 'i8');
    case 0xd1: return int(r.take(2).readInt16BE(0), 'i16');
    case 0xd2: return int(r.take(4).readInt32BE(0), 'i32');
    case 0xd3: return int(r.take(8).readBigInt64BE(0), 'i64');
    case 0xd4: return readExt(r, 1);
    case 0xd5: return readExt(r, 2);
    case 0xd6: return readExt(r, 4);
    case 0xd7: return readExt(r, 8);
    case 0xd8: return readExt(r, 16);
    case 0xd9: return { t: 'str', bytes: Uint8Array.from(r.take(r.u8())) };
    case 0xda: return { t: 'str', bytes: Uint8Array.from(r.take(r.u16())) };
    case 0xdb: return { t: 'str', bytes: Uint8Array.from(r.take(r.u32())) };
    case 0xdc: return readArray(r, r.u16(), depth);
    case 0xdd: return readArray(r, r.u32(), depth);
    case 0xde: return readMap(r, r.u16(), depth);
    case 0xdf: return readMap(r, r.u32(), depth);
  }
  throw new DecodeError(`byte 0x${c.toString(16)} at ${at} is not a msgpack type`);
}

function readExt(r: Reader, n: number): Wire {
  const type = r.take(1).readInt8(0);
  return { t: 'ext', type, data: Uint8Array.from(r.take(n)) };
}

function readArray(r: Reader, n: number, depth: number): Wire {
  const v: Wire[] = [];
  for (let i = 0; i < n; i++) v.push(readValue(r, depth + 1));
  return { t: 'array', v };
}

function readMap(r: Reader, n: number, depth: number): Wire {
  const v: [Wire, Wire][] = [];
  for (let i = 0; i < n; i++) v.push([readValue(r, depth + 1), readValue(r, depth + 1)]);
  return { t: 'map', v };
}

/** One msgpack value that must fill `buf` exactly (a frame holds one message). */
export function decodeWire(buf: Buffer): Wire {
  const r = new Reader(buf);
  const v = readValue(r, 0);
  if (r.pos !== buf.length) throw new DecodeError(`${buf.length - r.pos} bytes left over after the message`);
  return v;
}
