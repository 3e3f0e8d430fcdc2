/**
 * Anything callable or constructible is refused, however it is combined:
 * `() => void`, a method, a callable object (`(() => void) & { tag: string }`),
 * a class constructor. Nothing can pass a function over the wire. (Optional
 * ones are left out before they get here: see object.ts and analyze.ts.)
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';

export function isCallable(type: TS.Type, ctx: ModelContext): boolean {
  const c = ctx.checker;
  return c.getSignaturesOfType(type, ts.SignatureKind.Call).length > 0 || c.getSignaturesOfType(type, ts.SignatureKind.Construct).length > 0;
}

/** `cb?: () => void`, `split?: Fn | undefined`: every member but `undefined` is a function. */
export function isOnlyCallable(type: TS.Type, ctx: ModelContext): boolean {
  const parts = type.isUnion() ? type.types.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void))) : [type];
  return parts.length > 0 && parts.every((t) => isCallable(t, ctx));
}

export const callable: Matcher = {
  kind: 'callable',
  match(type, ctx) {
    if (type.isUnion() || !isCallable(type, ctx)) return undefined;
    return ctx.fail(() => `function-typed value ${ctx.typeText(type)}: functions cannot be sent to or from a sandbox; pass data and call another exported function instead`, 'wire');
  },
};
