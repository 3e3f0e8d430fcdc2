/**
 * TypeScript enums, matched before unions (an enum type *is* a union of its
 * member literals to the checker). Emitted once as a named type.
 */
import { ts } from '../ts.js';
import type { Matcher } from './context.js';
import type { EnumMember } from './types.js';

export const enumType: Matcher = {
  kind: 'enum',
  match(type, ctx) {
    const symbol = type.symbol;
    if (!symbol || !(symbol.flags & ts.SymbolFlags.Enum) || !(type.flags & (ts.TypeFlags.EnumLike | ts.TypeFlags.Union))) return undefined;
    // A single member (`Color.Red`) is a literal, handled by the literal matcher.
    if (type.flags & ts.TypeFlags.EnumLiteral && !(type.flags & ts.TypeFlags.Union) && symbol.flags & ts.SymbolFlags.EnumMember) return undefined;
    const members: EnumMember[] = [];
    for (const decl of symbol.declarations ?? []) {
      if (!ts.isEnumDeclaration(decl)) continue;
      for (const m of decl.members) {
        const value = ctx.checker.getConstantValue(m);
        if (value === undefined) return ctx.fail(`enum ${symbol.name}: member ${m.name.getText()} has no constant value`);
        members.push({ name: m.name.getText().replace(/^['"]|['"]$/g, ''), value });
      }
    }
    const name = ctx.registerDef(type, symbol.name);
    ctx.setDef(name, { kind: 'enum', members });
    return { kind: 'ref', name };
  },
};
