/** Tuples, with optional (`[a, b?]`) and rest (`[a, ...b[]]`) elements. */
import { ts } from 'ts-morph';
import type { Matcher } from './context.js';
import type { TupleElement } from './types.js';
import { convertWithoutUndefined } from './union.js';

export const tuple: Matcher = {
  kind: 'tuple',
  match(type, ctx) {
    if (!ctx.checker.isTupleType(type)) return undefined;
    const target = (type as ts.TypeReference).target as ts.TupleType;
    const args = ctx.checker.getTypeArguments(type as ts.TypeReference);
    const elements: TupleElement[] = args.map((arg, i) => {
      const flags = target.elementFlags[i]!;
      if (flags & ts.ElementFlags.Variadic) return ctx.fail(`${ctx.typeText(type)}: variadic tuple elements are not supported`);
      if (flags & ts.ElementFlags.Rest) return { type: ctx.convert(arg), rest: true };
      if (flags & ts.ElementFlags.Optional) return { type: convertWithoutUndefined(arg, ctx), optional: true };
      return { type: ctx.convert(arg) };
    });
    return { kind: 'tuple', elements };
  },
};

