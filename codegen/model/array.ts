/** `T[]`, `Array<T>`, `readonly T[]`. */
import type { Matcher } from './context.js';

export const array: Matcher = {
  kind: 'array',
  match(type, ctx) {
    if (!ctx.checker.isArrayType(type)) return undefined;
    const [item] = ctx.checker.getTypeArguments(type as import('ts-morph').ts.TypeReference);
    return { kind: 'array', items: ctx.convert(item!) };
  },
};
