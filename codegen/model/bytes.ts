/**
 * Bytes: the lib's `Uint8Array` (any buffer type: `Uint8Array<ArrayBuffer>`),
 * Node's `Buffer`, and intersections of them (`Uint8Array & Uint8Array<ArrayBuffer>`,
 * as hashing libraries write). msgpack bin on the wire, a Buffer when decoded.
 */
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';

function bytesOf(type: TS.Type, ctx: ModelContext): { kind: 'bytes'; buffer: boolean } | undefined {
  if (type.isIntersection()) {
    const parts = type.types.map((t) => bytesOf(t, ctx));
    if (parts.some((p) => !p)) return undefined;
    return { kind: 'bytes', buffer: parts.some((p) => p!.buffer) };
  }
  const symbol = type.getSymbol();
  if (symbol?.name === 'Uint8Array' && ctx.isFromDefaultLib(symbol)) return { kind: 'bytes', buffer: false };
  if (symbol?.name === 'Buffer' && ctx.declaredIn(symbol).some((f) => f.fileName.includes('/@types/node/'))) return { kind: 'bytes', buffer: true };
  return undefined;
}

export const bytes: Matcher = {
  kind: 'bytes',
  match: bytesOf,
};
