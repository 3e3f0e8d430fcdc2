/**
 * Types that cannot cross the wire, refused with a message naming them:
 * functions (callbacks, methods), class instances with methods, and the
 * lib's non-data objects (Map, Set, Promise, RegExp, Error, ...).
 */
import { ts } from 'ts-morph';
import type { Matcher } from './context.js';

export const refused: Matcher = {
  kind: 'refused',
  match(type, ctx) {
    const c = ctx.checker;
    if (c.getSignaturesOfType(type, ts.SignatureKind.Call).length > 0 || c.getSignaturesOfType(type, ts.SignatureKind.Construct).length > 0) {
      return ctx.fail(`function-typed value ${ctx.typeText(type)}: functions cannot be sent to or from a sandbox; pass data and call another exported function instead`);
    }
    const symbol = type.getSymbol();
    if (symbol && symbol.flags & ts.SymbolFlags.Class) {
      const hasMethods = c.getPropertiesOfType(type).some((p) => p.flags & ts.SymbolFlags.Method);
      if (hasMethods) return ctx.fail(`class ${ctx.typeText(type)} has methods; class instances arrive as plain objects on the other side, so use an interface or type alias of plain data`);
    }
    if (symbol && symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class) && ctx.isFromDefaultLib(symbol)) {
      return ctx.fail(`${ctx.typeText(type)} is not supported on the wire (supported: JSON-like data, Date, Uint8Array/Buffer, bigint); convert it to plain data`);
    }
    return undefined;
  },
};
