/**
 * Keyword types: string, number, boolean, bigint, null, undefined/void,
 * unknown, any, never, object.
 *
 * `any` is accepted (with a warning) only as someone wrote it. An `any`
 * whose annotation does not spell it may be the checker's stand-in for a name
 * it could not resolve (a parameter contextually typed by `typeof path.basename`
 * without Node's typings): the fast pass hands over to the thorough one, and
 * an unannotated parameter or property is refused as implicitly `any`.
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';
import type { TypeModel } from './types.js';

const F = ts.TypeFlags;

export const primitive: Matcher = {
  kind: 'primitive',
  match(type, ctx) {
    const f = type.flags;
    if (f & F.Any) return anyModel(ctx);
    if (f & F.Unknown) return { kind: 'unknown' };
    if (f & F.Never) return { kind: 'never' };
    if (f & F.String) return { kind: 'string' };
    if (f & F.Number) return { kind: 'number' };
    if (f & F.Boolean) return { kind: 'boolean' };
    // A bigint literal (`10n`) is checked as any bigint: JSON Schema has no bigint const.
    if (f & (F.BigInt | F.BigIntLiteral)) return { kind: 'bigint' };
    if (f & F.Null) return { kind: 'null' };
    if (f & F.Void) return { kind: 'void' };
    if (f & F.Undefined) return { kind: 'undefined' };
    if (f & F.NonPrimitive) return { kind: 'nonPrimitive' };
    if (f & (F.ESSymbol | F.UniqueESSymbol)) return ctx.fail(() => `${ctx.typeText(type)}: symbols cannot cross the wire`, 'wire');
    return undefined;
  },
};

function anyModel(ctx: ModelContext): TypeModel {
  const w = ctx.where();
  const spelled = !!w?.typeNode && spellsAny(w.typeNode);
  if (!spelled) ctx.unsure(`an any nobody wrote (${w ? `${w.file}:${w.line}` : 'no location'})`);
  if (!spelled && w?.untyped) return ctx.fail('has no type annotation, so it is implicitly `any`; write the type');
  ctx.warn('`any` accepts anything and is not checked at run time; prefer `unknown` or a precise type');
  return w ? { kind: 'any', declared: `${w.file}:${w.line}` } : { kind: 'any' };
}

function spellsAny(node: TS.Node): boolean {
  return node.kind === ts.SyntaxKind.AnyKeyword || !!ts.forEachChild(node, (n) => spellsAny(n) || undefined);
}
