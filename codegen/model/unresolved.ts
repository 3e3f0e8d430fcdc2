/** A type the checker could not resolve (a missing import, a typo): refused, naming it. */
import { ts } from 'ts-morph';
import type { Matcher } from './context.js';

export const unresolved: Matcher = {
  kind: 'unresolved',
  match(type, ctx) {
    if (!(type.flags & ts.TypeFlags.Any) || (type as { intrinsicName?: string }).intrinsicName !== 'error') return undefined;
    const written = ctx.where()?.written;
    return ctx.fail((written ? `"${written}" contains an ` : 'an ') + 'unresolved type (a missing import or a type that does not exist); the compiler cannot say what it accepts', 'unresolved');
  },
};
