/**
 * Checker type → type model. One matcher per kind, tried in order; the first
 * that answers wins. The order matters: unresolved before primitives (an
 * unresolved type is `any` to the checker), enums before unions (an enum is a
 * union of its members), Date/bytes before named types and objects, named
 * types before their structure, functions refused before anything that would
 * read their properties (an intersection, an object with call signatures),
 * lib classes before objects.
 */
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';
import type { TypeModel } from './types.js';
import { unresolved } from './unresolved.js';
import { primitive } from './primitive.js';
import { enumType } from './enum.js';
import { literal } from './literal.js';
import { template } from './template.js';
import { date } from './date.js';
import { bytes } from './bytes.js';
import { named } from './named.js';
import { callable } from './callable.js';
import { union } from './union.js';
import { intersection } from './intersection.js';
import { array } from './array.js';
import { tuple } from './tuple.js';
import { refused } from './refused.js';
import { object } from './object.js';

export const matchers: readonly Matcher[] = [unresolved, primitive, enumType, literal, template, date, bytes, named, callable, union, intersection, array, tuple, refused, object];

export function convertType(type: TS.Type, ctx: ModelContext, skipNamed: boolean): TypeModel {
  if (!skipNamed) {
    const known = ctx.lookupDef(type);
    if (known) return { kind: 'ref', name: known };
    if (ctx.unnamedChain.has(type)) {
      return ctx.fail(() => `${ctx.typeText(type)} refers to itself without a name; give the recursive part a name (interface or type alias)`);
    }
  }
  const chain = ctx.unnamedChain;
  chain.add(type);
  try {
    for (const m of matchers) {
      if (skipNamed && m === named) continue;
      const model = m.match(type, ctx);
      if (model) return model;
    }
  } finally {
    chain.delete(type);
  }
  return ctx.fail(() => `type ${ctx.typeText(type)} is not supported`);
}

export { ModelContext } from './context.js';
export type { Matcher } from './context.js';
