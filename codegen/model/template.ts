/** Template literal types (`` `user-${number}` ``): a string checked by a pattern. */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher } from './context.js';

export const template: Matcher = {
  kind: 'template',
  match(type, ctx) {
    if (type.flags & ts.TypeFlags.StringMapping) {
      ctx.warn(`${ctx.typeText(type)} is checked as a plain string`);
      return { kind: 'string' };
    }
    if (!(type.flags & ts.TypeFlags.TemplateLiteral)) return undefined;
    const t = type as TS.TemplateLiteralType;
    const parts: (string | ReturnType<typeof ctx.convert>)[] = [];
    t.texts.forEach((text, i) => {
      if (text) parts.push(text);
      if (i < t.types.length) parts.push(ctx.convert(t.types[i]!));
    });
    return { kind: 'template', parts };
  },
};
