/**
 * A type the checker could not resolve (a missing import, a typo, or a name
 * from Node's typings in the fast pass, which then hands over): refused,
 * naming it.
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher } from './context.js';

export function isErrorType(type: TS.Type): boolean {
  const name = (type as { intrinsicName?: string }).intrinsicName;
  return (type.flags & ts.TypeFlags.Any) !== 0 && (name === 'error' || name === 'unresolved');
}

export const unresolved: Matcher = {
  kind: 'unresolved',
  match(type, ctx) {
    if (!isErrorType(type)) return undefined;
    const written = ctx.where()?.written;
    ctx.unsure(`unresolved type${written ? ` in "${written}"` : ''}`);
    return ctx.fail((written ? `"${written}" contains an ` : 'an ') + 'unresolved type (a missing import or a type that does not exist); the compiler cannot say what it accepts', 'unresolved');
  },
};
