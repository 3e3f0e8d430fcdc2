/**
 * Reading msgpack without decoding it: the few fields the server routes by
 * (`peekHead`, `peekCall` in protocol.ts) and a walk that bounds what a
 * message would cost once decoded (`decodedCost`). No allocation, no
 * recursion: safe on any input, however hostile.
 */

export interface Read<T> {
  value: T;
  next: number;
}

/** A non-negative integer in any msgpack integer encoding, up to 2^53. */
export function readUint(buf: Uint8Array, p: number): Read<number> | undefined {
  const b = buf[p];
  if (b === undefined) return undefined;
  if (b <= 0x7f) return { value: b, next: p + 1 };
  const need = (n: number) => p + 1 + n <= buf.length;
  // The common widths without a DataView: this runs for every frame the server routes.
  switch (b) {
    case 0xcc: return need(1) ? { value: buf[p + 1]!, next: p + 2 } : undefined;
    case 0xcd: return need(2) ? { value: (buf[p + 1]! << 8) | buf[p + 2]!, next: p + 3 } : undefined;
    case 0xce: return need(4) ? { value: buf[p + 1]! * 0x100_0000 + ((buf[p + 2]! << 16) | (buf[p + 3]! << 8) | buf[p + 4]!), next: p + 5 } : undefined;
  }
  const view = viewOf(buf);
  switch (b) {
    case 0xcf: {
      if (!need(8)) return undefined;
      const v = view.getBigUint64(p + 1);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? { value: Number(v), next: p + 9 } : undefined;
    }
    case 0xd0: return need(1) ? nonNegative(view.getInt8(p + 1), p + 2) : undefined;
    case 0xd1: return need(2) ? nonNegative(view.getInt16(p + 1), p + 3) : undefined;
    case 0xd2: return need(4) ? nonNegative(view.getInt32(p + 1), p + 5) : undefined;
    case 0xd3: {
      if (!need(8)) return undefined;
      const v = view.getBigInt64(p + 1);
      return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? { value: Number(v), next: p + 9 } : undefined;
    }
    default: return undefined;
  }
}

/** Any msgpack number (int or float) as a JS number; big 64-bit integers lose precision. */
export function readNumber(buf: Uint8Array, p: number): Read<number> | undefined {
  const b = buf[p];
  if (b === undefined) return undefined;
  if (b <= 0x7f || b === 0xcc || b === 0xcd || b === 0xce) return readUint(buf, p);
  if (b >= 0xe0) return { value: b - 0x100, next: p + 1 };
  const view = viewOf(buf);
  switch (b) {
    case 0xca: return p + 5 <= buf.length ? { value: view.getFloat32(p + 1), next: p + 5 } : undefined;
    case 0xcb: return p + 9 <= buf.length ? { value: view.getFloat64(p + 1), next: p + 9 } : undefined;
    case 0xcf: return p + 9 <= buf.length ? { value: Number(view.getBigUint64(p + 1)), next: p + 9 } : undefined;
    case 0xd0: return p + 2 <= buf.length ? { value: view.getInt8(p + 1), next: p + 2 } : undefined;
    case 0xd1: return p + 3 <= buf.length ? { value: view.getInt16(p + 1), next: p + 3 } : undefined;
    case 0xd2: return p + 5 <= buf.length ? { value: view.getInt32(p + 1), next: p + 5 } : undefined;
    case 0xd3: return p + 9 <= buf.length ? { value: Number(view.getBigInt64(p + 1)), next: p + 9 } : undefined;
    default: return readUint(buf, p);
  }
}

/** The byte range of a msgpack string. */
export function readStr(buf: Uint8Array, p: number): Read<{ start: number; end: number }> | undefined {
  const b = buf[p];
  if (b === undefined) return undefined;
  let len: number;
  let start: number;
  if ((b & 0xe0) === 0xa0) (len = b & 0x1f), (start = p + 1);
  else if (b === 0xd9 && p + 2 <= buf.length) (len = buf[p + 1]!), (start = p + 2);
  else if (b === 0xda && p + 3 <= buf.length) (len = (buf[p + 1]! << 8) | buf[p + 2]!), (start = p + 3);
  else if (b === 0xdb && p + 5 <= buf.length) (len = viewOf(buf).getUint32(p + 1)), (start = p + 5);
  else return undefined;
  const end = start + len;
  return end <= buf.length ? { value: { start, end }, next: end } : undefined;
}

/** The element count of a msgpack array header, or undefined when `p` does not start an array. */
export function readArrayHeader(buf: Uint8Array, p: number): Read<number> | undefined {
  const b = buf[p];
  if (b === undefined) return undefined;
  if ((b & 0xf0) === 0x90) return { value: b & 0x0f, next: p + 1 };
  if (b === 0xdc) return p + 3 <= buf.length ? { value: (buf[p + 1]! << 8) | buf[p + 2]!, next: p + 3 } : undefined;
  if (b === 0xdd) return p + 5 <= buf.length ? { value: viewOf(buf).getUint32(p + 1), next: p + 5 } : undefined;
  return undefined;
}

/** Rough heap bytes of what each kind of value decodes to (V8, 64-bit); an estimate, erring high. */
const COST = { scalar: 8, string: 24, bin: 96, array: 32, arraySlot: 8, map: 64, mapEntry: 24, ext: 64 } as const;

export type CostResult = { ok: true; cost: number; end: number } | { ok: false; reason: 'truncated' | 'too-deep' | 'too-costly' | 'invalid' };

/**
 * Walks one msgpack value starting at `p` and estimates what decoding it would
 * allocate. Stops early (`too-costly`) once `budget` is passed, and refuses
 * nesting deeper than `maxDepth`. Linear in the number of values, with an
 * explicit stack instead of recursion.
 */
export function decodedCost(buf: Uint8Array, p: number, budget: number, maxDepth: number): CostResult {
  const view = viewOf(buf);
  const len = buf.length;
  // remaining[d]: values still to read at nesting level d (maps count keys and values).
  const remaining: number[] = [1];
  let cost = 0;
  while (remaining.length > 0) {
    if (remaining[remaining.length - 1] === 0) {
      remaining.pop();
      continue;
    }
    remaining[remaining.length - 1]!--;
    if (p >= len) return { ok: false, reason: 'truncated' };
    const b = buf[p]!;
    let children = 0;
    let skip = 0;
    let head = 1;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) cost += COST.scalar;
    else if ((b & 0xf0) === 0x80) (children = (b & 0x0f) * 2), (cost += COST.map + (b & 0x0f) * COST.mapEntry);
    else if ((b & 0xf0) === 0x90) (children = b & 0x0f), (cost += COST.array + children * COST.arraySlot);
    else if ((b & 0xe0) === 0xa0) (skip = b & 0x1f), (cost += COST.string + 2 * skip);
    else {
      const need = (n: number) => p + 1 + n <= len;
      switch (b) {
        case 0xcc: case 0xd0: head = 2; cost += COST.scalar; break;
        case 0xcd: case 0xd1: head = 3; cost += COST.scalar; break;
        case 0xce: case 0xd2: case 0xca: head = 5; cost += COST.scalar; break;
        case 0xcf: case 0xd3: case 0xcb: head = 9; cost += COST.scalar; break;
        case 0xd9: case 0xc4: case 0xc7:
          if (!need(1)) return { ok: false, reason: 'truncated' };
          skip = buf[p + 1]! + (b === 0xc7 ? 1 : 0); head = 2; break;
        case 0xda: case 0xc5: case 0xc8:
          if (!need(2)) return { ok: false, reason: 'truncated' };
          skip = view.getUint16(p + 1) + (b === 0xc8 ? 1 : 0); head = 3; break;
        case 0xdb: case 0xc6: case 0xc9:
          if (!need(4)) return { ok: false, reason: 'truncated' };
          skip = view.getUint32(p + 1) + (b === 0xc9 ? 1 : 0); head = 5; break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
          skip = 1 + (1 << (b - 0xd4)); cost += COST.ext; break;
        case 0xdc: case 0xde:
          if (!need(2)) return { ok: false, reason: 'truncated' };
          children = view.getUint16(p + 1); head = 3; break;
        case 0xdd: case 0xdf:
          if (!need(4)) return { ok: false, reason: 'truncated' };
          children = view.getUint32(p + 1); head = 5; break;
        default:
          return { ok: false, reason: 'invalid' }; // 0xc1, never used
      }
      if (b === 0xd9 || b === 0xda || b === 0xdb) cost += COST.string + 2 * skip;
      else if (b === 0xc4 || b === 0xc5 || b === 0xc6) cost += COST.bin + skip;
      else if (b === 0xc7 || b === 0xc8 || b === 0xc9) cost += COST.ext + skip;
      else if (b === 0xdc || b === 0xdd) cost += COST.array + children * COST.arraySlot;
      else if (b === 0xde || b === 0xdf) (cost += COST.map + children * COST.mapEntry), (children *= 2);
    }
    p += head + skip;
    if (p > len) return { ok: false, reason: 'truncated' };
    if (cost > budget) return { ok: false, reason: 'too-costly' };
    if (children > 0) {
      // A container cannot hold more values than there are bytes left: refuse a lying header early.
      if (children > len - p) return { ok: false, reason: 'truncated' };
      if (remaining.length >= maxDepth) return { ok: false, reason: 'too-deep' };
      remaining.push(children);
    }
  }
  return { ok: true, cost, end: p };
}

const nonNegative = (value: number, next: number) => (value >= 0 ? { value, next } : undefined);
const viewOf = (buf: Uint8Array) => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
