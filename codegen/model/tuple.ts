/**
 * Tuples, with optional (`[a, b?]`) and trailing rest (`[a, ...b[]]`)
 * elements. A rest before fixed elements (`[...string[], number]`) has no
 * exact JSON Schema (prefixItems/items only describe a fixed head), so it is
 * refused rather than checked wrongly.
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher } from './context.js';
import type { TupleElement } from './types.js';
import { convertWithoutUndefined } from './union.js';

export const tuple: Matcher = {
  kind: 'tuple',
  match(type, ctx) {
    if (!ctx.checker.isTupleType(type)) return undefined;
    const target = (type as TS.TypeReference).target as TS.TupleType;
    const args = ctx.checker.getTypeArguments(type as TS.TypeReference);
    const restAt = target.elementFlags.findIndex((f) => f & (ts.ElementFlags.Rest | ts.ElementFlags.Variadic));
    if (restAt >= 0 && restAt < args.length - 1) {
      return ctx.fail(() => `${ctx.typeText(type)}: a rest element before other elements cannot be checked on the wire (JSON Schema describes only a fixed head and a uniform tail); put the rest last or use an array`);
    }
    const elements: TupleElement[] = args.map((arg, i) => {
      const flags = target.elementFlags[i]!;
      if (flags & ts.ElementFlags.Variadic) return ctx.fail(() => `${ctx.typeText(type)}: variadic tuple elements are not supported`);
      if (flags & ts.ElementFlags.Rest) return { type: ctx.convert(arg), rest: true };
      if (flags & ts.ElementFlags.Optional) return { type: convertWithoutUndefined(arg, ctx), optional: true };
      return { type: ctx.convert(arg) };
    });
    return target.readonly ? { kind: 'tuple', elements, readonly: true } : { kind: 'tuple', elements };
  },
};
