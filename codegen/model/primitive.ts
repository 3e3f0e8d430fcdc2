/** Keyword types: string, number, boolean, bigint, null, undefined/void, unknown, any, never. */
import { ts } from 'ts-morph';
import type { Matcher } from './context.js';

const F = ts.TypeFlags;

export const primitive: Matcher = {
  kind: 'primitive',
  match(type, ctx) {
    const f = type.flags;
    if (f & F.Any) {
      ctx.warn('`any` accepts anything and is not checked at run time; prefer `unknown` or a precise type');
      return { kind: 'any' };
    }
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
    if (f & F.NonPrimitive) return { kind: 'object', properties: [], index: { kind: 'unknown' } };
    if (f & (F.ESSymbol | F.UniqueESSymbol)) return ctx.fail(`${ctx.typeText(type)}: symbols cannot cross the wire`);
    return undefined;
  },
};
