/**
 * Intersections. Object types are merged into one object (the checker knows
 * the combined properties); a branded primitive (`string & { __brand: 'Id' }`)
 * is checked as the primitive; anything else becomes `allOf`. Callable
 * intersections never get here (callable.ts refuses them first).
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';
import { isLibClass } from './refused.js';
import { objectModel } from './object.js';
import { PRIMITIVE_FLAGS } from './flags.js';

const isClassLike = (t: TS.Type, ctx: ModelContext) => {
  const symbol = t.getSymbol();
  return !!symbol && ((symbol.flags & ts.SymbolFlags.Class) !== 0 || isLibClass(symbol, ctx));
};

const isEmptyObject = (t: TS.Type, c: TS.TypeChecker) =>
  (t.flags & ts.TypeFlags.Object) !== 0 && c.getPropertiesOfType(t).length === 0 && c.getIndexInfosOfType(t).length === 0 &&
  c.getSignaturesOfType(t, ts.SignatureKind.Call).length === 0 && c.getSignaturesOfType(t, ts.SignatureKind.Construct).length === 0;

export const intersection: Matcher = {
  kind: 'intersection',
  match(type, ctx) {
    if (!type.isIntersection()) return undefined;
    const primitives = type.types.filter((t) => t.flags & PRIMITIVE_FLAGS);
    // `string & {}` (the "any string, but keep literal suggestions" idiom) is just the primitive.
    if (primitives.length === 1 && type.types.every((t) => t === primitives[0] || isEmptyObject(t, ctx.checker))) return ctx.convert(primitives[0]!);
    if (primitives.length === 1) {
      ctx.warn(`${ctx.typeText(type)} is checked as ${ctx.typeText(primitives[0]!)} (the brand does not exist at run time)`);
      return ctx.convert(primitives[0]!);
    }
    // Plain objects merge; a class or lib class among them is converted (and refused) as itself, not as its properties.
    if (type.types.every((t) => t.flags & ts.TypeFlags.Object && !isClassLike(t, ctx))) return objectModel(type, ctx);
    return { kind: 'intersection', members: type.types.map((t) => ctx.convert(t)) };
  },
};
