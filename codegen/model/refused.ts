/**
 * Types that cannot cross the wire, refused with a message naming them:
 * class instances with methods, and the default library's classes and
 * interfaces with methods (Map, Set, Promise, RegExp, Error, ArrayBuffer, ...).
 * Plain-data lib interfaces (`Intl.DateTimeFormatOptions`) are named types
 * (named.ts) and converted like any other object.
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';

/** A lib interface merged with a global value of the same name (`interface Map` + `var Map: MapConstructor`): a class. */
export function isLibClass(symbol: TS.Symbol, ctx: ModelContext): boolean {
  return (symbol.flags & ts.SymbolFlags.Value) !== 0 && ctx.isFromDefaultLib(symbol);
}

export const refused: Matcher = {
  kind: 'refused',
  match(type, ctx) {
    const c = ctx.checker;
    const symbol = type.getSymbol();
    if (!symbol) return undefined;
    const hasMethods = () => c.getPropertiesOfType(type).some((p) => p.flags & ts.SymbolFlags.Method);
    if (ctx.isFromDefaultLib(symbol) && symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class) && (isLibClass(symbol, ctx) || hasMethods())) {
      return ctx.fail(() => `${ctx.typeText(type)} is not supported on the wire (supported: JSON-like data, Date, Uint8Array/Buffer, bigint); convert it to plain data`, 'wire');
    }
    if (symbol.flags & ts.SymbolFlags.Class && hasMethods()) {
      return ctx.fail(() => `class ${ctx.typeText(type)} has methods; class instances arrive as plain objects on the other side, so use an interface or type alias of plain data`, 'wire');
    }
    return undefined;
  },
};
