/**
 * Unions. The checker spells `boolean` as `true | false`; both literals
 * together are folded back into `boolean`. The union as written (its
 * `origin`) is kept where the checker has it, so `Json | Json[]` stays two
 * named members rather than Json's members spelled out. Nested unions are
 * flattened and duplicates removed.
 *
 * In an argument (direction `in`), a member that cannot cross the wire (a
 * callback, a class instance) is dropped with a note: the caller can send
 * less than the function accepts, never more. In a result it is refused.
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import { isTrue } from './flags.js';
import type { Matcher, ModelContext } from './context.js';
import { GenError } from '../errors.js';
import { unionOf } from './merge.js';
import type { TypeModel } from './types.js';

export const union: Matcher = {
  kind: 'union',
  match(type, ctx) {
    if (!type.isUnion()) return undefined;
    return unionModel(membersAsWritten(type), ctx);
  },
};

/** The union's constituents as written, if the checker kept them (`origin`), else its flattened members. */
function membersAsWritten(type: TS.UnionType): readonly TS.Type[] {
  const origin = (type as { origin?: TS.Type }).origin;
  return origin?.isUnion() ? origin.types : type.types;
}

export function unionModel(types: readonly TS.Type[], ctx: ModelContext): TypeModel {
  const members: TypeModel[] = [];
  const dropped: string[] = [];
  let firstDrop: GenError | undefined;
  let sawTrue = false, sawFalse = false;
  for (const t of types) {
    if (t.flags & ts.TypeFlags.BooleanLiteral) {
      if (isTrue(t)) sawTrue = true; else sawFalse = true;
      continue;
    }
    let m: TypeModel;
    try {
      m = ctx.attempt(() => ctx.convert(t));
    } catch (err) {
      if (ctx.direction !== 'in' || !(err instanceof GenError) || err.refusal !== 'wire') throw err;
      firstDrop ??= err;
      const text = ctx.typeText(t);
      dropped.push(text.length > 80 ? `${text.slice(0, 77)}...` : text);
      continue;
    }
    members.push(m);
  }
  if (sawTrue && sawFalse) members.push({ kind: 'boolean' });
  else if (sawTrue) members.push({ kind: 'literal', value: true });
  else if (sawFalse) members.push({ kind: 'literal', value: false });
  if (dropped.length > 0) {
    // Nothing left to send: the first member's own refusal says why.
    if (members.length === 0) throw firstDrop!;
    ctx.markNarrowed();
    ctx.note(`${dropped.join(', ')} left out of the argument type (cannot cross the wire)`);
  }
  return unionOf(members);
}

/**
 * The type of an optional property / parameter / tuple element without the
 * `| undefined` the checker adds: optional already says "may be absent". The
 * union's `origin` keeps `status?: Status` pointing at the named `Status`
 * instead of spelling its members out.
 */
export function convertWithoutUndefined(type: TS.Type, ctx: ModelContext): TypeModel {
  if (type.isUnion()) {
    const parts = membersAsWritten(type);
    const rest = parts.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)));
    if (rest.length > 0 && rest.length < parts.length) return rest.length === 1 ? ctx.convert(rest[0]!) : unionModel(rest, ctx);
  }
  return ctx.convert(type);
}
