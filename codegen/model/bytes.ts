/** `Uint8Array` (lib) and Node's `Buffer`: msgpack bin on the wire, a Buffer when decoded. */
import type { Matcher } from './context.js';

export const bytes: Matcher = {
  kind: 'bytes',
  match(type, ctx) {
    const symbol = type.getSymbol();
    if (symbol?.name === 'Uint8Array' && ctx.isFromDefaultLib(symbol)) return { kind: 'bytes', buffer: false };
    if (symbol?.name === 'Buffer' && ctx.declaredIn(symbol).some((f) => f.fileName.includes('/@types/node/'))) return { kind: 'bytes', buffer: true };
    return undefined;
  },
};
