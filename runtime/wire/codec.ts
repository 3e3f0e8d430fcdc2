/**
 * Serialization rules, in one place. Every process (client, server, worker)
 * encodes and decodes with these settings so that a value means the same
 * thing on both ends (docs/protocol.md, "Serialization rules"):
 *   - plain msgpack maps (no msgpackr records), so other languages can read it;
 *   - Uint8Array / Buffer → bin, decoded as Buffer (a Uint8Array);
 *   - every other typed array and DataView → ext 0x74: one byte naming the
 *     kind, then the elements' bytes, little-endian; decoded as the same kind;
 *   - Date → msgpack timestamp extension (-1);
 *   - bigint → int64, or msgpackr's bigint extension (0x42) beyond 64 bits; any
 *     int64 on the wire decodes as bigint, so numbers and bigints never swap;
 *   - undefined → fixext1 type 0 (msgpackr's default) so optional arguments
 *     keep their position.
 */
import { endianness } from 'node:os';
import { addExtension, Packr } from 'msgpackr';

/** ext 0x74 kind codes (msgpackr's numbering, so its own decoders agree). */
const TYPED_KINDS = [
  ['Int8Array', Int8Array],
  ['Uint8Array', Uint8Array],
  ['Uint8ClampedArray', Uint8ClampedArray],
  ['Int16Array', Int16Array],
  ['Uint16Array', Uint16Array],
  ['Int32Array', Int32Array],
  ['Uint32Array', Uint32Array],
  ['Float32Array', Float32Array],
  ['Float64Array', Float64Array],
  ['BigInt64Array', BigInt64Array],
  ['BigUint64Array', BigUint64Array],
] as const;
const DATA_VIEW_KIND = 17;
export const TYPED_ARRAY_EXT = 0x74;

type Typed = InstanceType<(typeof TYPED_KINDS)[number][1]>;
const LITTLE_ENDIAN = endianness() === 'LE';

/** The element bytes of `view`, little-endian whatever this machine's order. */
function littleEndianBytes(view: ArrayBufferView, elementSize: number): Uint8Array {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (LITTLE_ENDIAN || elementSize === 1) return bytes;
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i += elementSize) out.subarray(i, i + elementSize).reverse();
  return out;
}

function packTyped(kind: number, view: ArrayBufferView, elementSize: number): Buffer {
  const body = littleEndianBytes(view, elementSize);
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

function unpackTyped(data: Uint8Array): unknown {
  const kind = data[0];
  // A fresh, aligned buffer: the element types need it, and the value must not alias the frame.
  const body = Uint8Array.prototype.slice.call(data, 1) as Uint8Array;
  if (kind === DATA_VIEW_KIND) return new DataView(body.buffer as ArrayBuffer);
  const entry = kind === undefined ? undefined : TYPED_KINDS[kind];
  if (!entry) throw new Error(`typed array extension with unknown kind ${kind}`);
  const Ctor = entry[1];
  if (body.length % Ctor.BYTES_PER_ELEMENT !== 0) throw new Error(`${entry[0]} of ${body.length} bytes is not a whole number of elements`);
  if (!LITTLE_ENDIAN) for (let i = 0; i < body.length; i += Ctor.BYTES_PER_ELEMENT) body.subarray(i, i + Ctor.BYTES_PER_ELEMENT).reverse();
  return new Ctor(body.buffer as ArrayBuffer);
}

// Uint8Array (and Buffer, a subclass) stay msgpack bin. Registered once per module instance; msgpackr
// checks user extensions before its own, by instanceof, and Buffer is no instance of any class below.
for (const [kind, [, Ctor]] of TYPED_KINDS.entries()) {
  if (Ctor === Uint8Array) continue;
  addExtension({ Class: Ctor, type: TYPED_ARRAY_EXT, pack: (v: Typed) => packTyped(kind, v, Ctor.BYTES_PER_ELEMENT), unpack: unpackTyped });
}
addExtension({ Class: DataView, type: TYPED_ARRAY_EXT, pack: (v: DataView) => packTyped(DATA_VIEW_KIND, v, 1), unpack: unpackTyped });

// msgpackr also decodes ext types of its own (Set 0x73, Error 0x65, RegExp 0x78, bundled strings 0x62,
// and structured-clone references 0x69/0x70, which would let a message build cycles or a graph whose
// traversal explodes). None is part of the Agentix protocol: refuse them by name.
for (const [type, name] of [[0x73, 'Set'], [0x65, 'Error'], [0x78, 'RegExp'], [0x62, 'bundled strings'], [0x69, 'structured-clone id'], [0x70, 'structured-clone pointer']] as const) {
  addExtension({
    type,
    unpack: () => {
      throw new Error(`msgpack ext type 0x${type.toString(16)} (msgpackr's ${name}) is not part of the Agentix protocol`);
    },
  } as never);
}

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'bigint',
  useBigIntExtension: true,
  moreTypes: false,
  structuredClone: false,
});

export const encode = (value: unknown): Buffer => packr.pack(value);
export const decode = (bytes: Uint8Array): unknown => packr.unpack(bytes);
