/**
 * `T[]`, `Array<T>`, `readonly T[]` (kept readonly in the stubs, so callers
 * may pass `as const` arrays). `ArrayLike<T>` as an argument is taken as
 * `readonly T[]`: an array is what can be sent for it (a narrowing, so not
 * for results).
 */
import type { ts as TS } from 'ts-morph';
import type { Matcher } from './context.js';

export const array: Matcher = {
  kind: 'array',
  match(type, ctx) {
    const symbol = type.getSymbol();
    if (ctx.checker.isArrayType(type)) {
      const [item] = ctx.checker.getTypeArguments(type as TS.TypeReference);
      const items = ctx.convert(item!);
      return symbol?.name === 'ReadonlyArray' ? { kind: 'array', items, readonly: true } : { kind: 'array', items };
    }
    if (symbol?.name === 'ArrayLike' && ctx.isFromDefaultLib(symbol) && ctx.direction === 'in') {
      const [item] = ctx.checker.getTypeArguments(type as TS.TypeReference);
      ctx.markNarrowed();
      return { kind: 'array', items: ctx.convert(item ?? ctx.checker.getUnknownType()), readonly: true };
    }
    return undefined;
  },
};
