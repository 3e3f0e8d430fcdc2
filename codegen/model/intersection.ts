/**
 * Intersections. Object types are merged into one object (the checker knows
 * the combined properties); a branded primitive (`string & { __brand: 'Id' }`)
 * is checked as the primitive; anything else becomes `allOf`.
 */
import { ts } from 'ts-morph';
import type { Matcher } from './context.js';
import { objectModel } from './object.js';
import { PRIMITIVE_FLAGS } from './flags.js';

export const intersection: Matcher = {
  kind: 'intersection',
  match(type, ctx) {
    if (!type.isIntersection()) return undefined;
    const primitives = type.types.filter((t) => t.flags & PRIMITIVE_FLAGS);
    if (primitives.length === 1) {
      ctx.warn(`${ctx.typeText(type)} is checked as ${ctx.typeText(primitives[0]!)} (the brand does not exist at run time)`);
      return ctx.convert(primitives[0]!);
    }
    if (type.types.every((t) => t.flags & ts.TypeFlags.Object)) return objectModel(type, ctx);
    return { kind: 'intersection', members: type.types.map((t) => ctx.convert(t)) };
  },
};
