/**
 * Interfaces and type aliases declared in the user's code (or a dependency)
 * become named definitions: emitted once (`$defs` / a `type` in the stubs) and
 * referenced everywhere else. Registering the name *before* converting the
 * structure is what makes recursive types terminate.
 */
import { isReference } from './flags.js';
import { ts } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';

export const named: Matcher = {
  kind: 'named',
  match(type, ctx) {
    const existing = ctx.defByType.get(type);
    if (existing) return { kind: 'ref', name: existing };
    const base = nameOf(type, ctx);
    if (!base) return undefined;
    const name = ctx.reserveName(base);
    ctx.defByType.set(type, name);
    const decl = (type.aliasSymbol ?? type.getSymbol())?.declarations?.[0];
    const model = ctx.at(decl, `type ${name}`, () => ctx.convertStructure(type));
    ctx.defs.set(name, { name, model });
    return { kind: 'ref', name };
  },
};

function nameOf(type: ts.Type, ctx: ModelContext): string | undefined {
  const alias = type.aliasSymbol;
  if (alias && !ctx.isFromDefaultLib(alias) && alias.declarations?.some(ts.isTypeAliasDeclaration)) {
    return withArgs(alias.name, type.aliasTypeArguments, ctx);
  }
  const symbol = type.getSymbol();
  if (symbol && symbol.flags & ts.SymbolFlags.Interface && !(symbol.flags & ts.SymbolFlags.Class) && !ctx.isFromDefaultLib(symbol)) {
    const args = (isReference(type)) ? ctx.checker.getTypeArguments(type as ts.TypeReference) : undefined;
    return withArgs(symbol.name, args, ctx);
  }
  return undefined;
}

/** `Page<User>` → `Page_User`: one definition per instantiation. */
function withArgs(name: string, args: readonly ts.Type[] | undefined, ctx: ModelContext): string {
  if (!args || args.length === 0) return name;
  const suffix = args.map((a) => ctx.typeText(a).replace(/\[\]/g, 'Array').replace(/[^A-Za-z0-9_$]+/g, '_').replace(/^_|_$/g, '')).join('_');
  return `${name}_${suffix}`;
}
