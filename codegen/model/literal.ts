/** String, number and boolean literal types (`'a'`, `42`, `true`), and single enum members. */
import { ts } from '../ts.js';
import { isTrue } from './flags.js';
import type { Matcher } from './context.js';

export const literal: Matcher = {
  kind: 'literal',
  match(type) {
    if (type.isStringLiteral() || type.isNumberLiteral()) return { kind: 'literal', value: type.value };
    if (type.flags & ts.TypeFlags.BooleanLiteral) return { kind: 'literal', value: isTrue(type) };
    return undefined;
  },
};
