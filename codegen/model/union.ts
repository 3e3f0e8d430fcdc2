/**
 * Unions. The checker spells `boolean` as `true | false`; both literals
 * together are folded back into `boolean`. Nested unions are flattened.
 */
import { ts } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';
import type { TypeModel } from './types.js';

export const union: Matcher = {
  kind: 'union',
  match(type, ctx) {
    if (!type.isUnion()) return undefined;
    return unionModel(type.types, ctx);
  },
};

export function unionModel(types: readonly ts.Type[], ctx: ModelContext): TypeModel {
  const members: TypeModel[] = [];
  let sawTrue = false, sawFalse = false;
  for (const t of types) {
    if (t.flags & ts.TypeFlags.BooleanLiteral) {
      if (ctx.typeText(t) === 'true') sawTrue = true; else sawFalse = true;
      continue;
    }
    const m = ctx.convert(t);
    if (m.kind === 'union') members.push(...m.members); else members.push(m);
  }
  if (sawTrue && sawFalse) members.push({ kind: 'boolean' });
  else if (sawTrue) members.push({ kind: 'literal', value: true });
  else if (sawFalse) members.push({ kind: 'literal', value: false });
  return members.length === 1 ? members[0]! : { kind: 'union', members };
}

/**
 * The type of an optional property / parameter / tuple element without the
 * `| undefined` the checker adds: optional already says "may be absent". The
 * union's `origin` (the constituents as written) keeps `status?: Status`
 * pointing at the named `Status` instead of spelling its members out.
 */
export function convertWithoutUndefined(type: ts.Type, ctx: ModelContext): TypeModel {
  if (type.isUnion()) {
    const origin = (type as { origin?: ts.Type }).origin;
    const parts = origin?.isUnion() ? origin.types : type.types;
    const rest = parts.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)));
    if (rest.length > 0 && rest.length < parts.length) return rest.length === 1 ? ctx.convert(rest[0]!) : unionModel(rest, ctx);
  }
  return ctx.convert(type);
}
