/**
 * Interfaces and type aliases declared in the user's code (or a dependency,
 * or plain-data interfaces of the default library such as
 * `Intl.DateTimeFormatOptions`) become named definitions: emitted once
 * (`$defs` / a `type` in the stubs) and referenced everywhere else.
 * Registering the name *before* converting the structure is what makes
 * recursive types terminate, however they are reached (`Step[]`, `Json | Json[]`).
 */
import { isReference } from './flags.js';
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';
import { isLibClass } from './refused.js';

export const named: Matcher = {
  kind: 'named',
  match(type, ctx) {
    const base = nameOf(type, ctx);
    if (!base) return undefined;
    const name = ctx.registerDef(type, base);
    const decl = (type.aliasSymbol ?? type.getSymbol())?.declarations?.find((d) => ts.isTypeAliasDeclaration(d) || ts.isInterfaceDeclaration(d));
    const model = ctx.withinNamed(name, () => ctx.at(decl, () => `type ${ctx.typeText(type)}`, () => {
      if (decl && ts.isInterfaceDeclaration(decl)) for (const h of decl.heritageClauses ?? []) ctx.requireResolved(h);
      return ctx.convertStructure(type);
    }));
    ctx.setDef(name, model);
    return { kind: 'ref', name };
  },
};

function nameOf(type: TS.Type, ctx: ModelContext): string | undefined {
  const alias = type.aliasSymbol;
  if (alias && !ctx.isFromDefaultLib(alias) && alias.declarations?.some(ts.isTypeAliasDeclaration)) {
    return withArgs(alias.name, type.aliasTypeArguments, ctx);
  }
  const symbol = type.getSymbol();
  if (!symbol || !(symbol.flags & ts.SymbolFlags.Interface) || symbol.flags & ts.SymbolFlags.Class) return undefined;
  const args = isReference(type) ? ctx.checker.getTypeArguments(type as TS.TypeReference) : undefined;
  if (ctx.isFromDefaultLib(symbol)) {
    // Lib interfaces that are plain data (Intl.DateTimeFormatOptions); the lib's classes are refused (refused.ts).
    if (isLibClass(symbol, ctx) || ctx.checker.getPropertiesOfType(type).some((p) => p.flags & ts.SymbolFlags.Method)) return undefined;
    return withArgs(qualifiedName(symbol), args, ctx);
  }
  return withArgs(symbol.name, args, ctx);
}

/** `Intl.DateTimeFormatOptions` → `Intl_DateTimeFormatOptions`. */
function qualifiedName(symbol: TS.Symbol): string {
  const parts = [symbol.name];
  for (let p = (symbol as { parent?: TS.Symbol }).parent; p && p.flags & ts.SymbolFlags.Namespace; p = (p as { parent?: TS.Symbol }).parent) parts.unshift(p.name);
  return parts.join('_');
}

/** `Page<User>` → `Page_User`: one definition per instantiation. */
function withArgs(name: string, args: readonly TS.Type[] | undefined, ctx: ModelContext): string {
  if (!args || args.length === 0) return name;
  const suffix = args.map((a) => ctx.typeText(a).replace(/\[\]/g, 'Array').replace(/[^A-Za-z0-9_$]+/g, '_').replace(/^_|_$/g, '')).join('_');
  return `${name}_${suffix}`;
}
