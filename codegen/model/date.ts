/** The lib's `Date` (msgpack timestamp on the wire, a Date on both ends). */
import type { Matcher } from './context.js';

export const date: Matcher = {
  kind: 'date',
  match(type, ctx) {
    const symbol = type.getSymbol();
    if (symbol?.name !== 'Date' || !ctx.isFromDefaultLib(symbol)) return undefined;
    return { kind: 'date' };
  },
};
