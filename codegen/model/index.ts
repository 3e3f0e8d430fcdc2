/**
 * Checker type → type model. One matcher per kind, tried in order; the first
 * that answers wins. The order matters: unresolved before primitives (an
 * unresolved type is `any` to the checker), enums before unions (an enum is a
 * union of its members), Date/bytes before named types and objects, named
 * types before their structure, functions/classes refused before objects.
 */
import type { ts } from 'ts-morph';
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
import { union } from './union.js';
import { intersection } from './intersection.js';
import { array } from './array.js';
import { tuple } from './tuple.js';
import { refused } from './refused.js';
import { object } from './object.js';

export const matchers: readonly Matcher[] = [unresolved, primitive, enumType, literal, template, date, bytes, named, union, intersection, array, tuple, refused, object];

/** Types being converted right now, to catch recursion through an unnamed type. */
const inProgressByContext = new WeakMap<ModelContext, Set<ts.Type>>();

export function convertType(type: ts.Type, ctx: ModelContext, skipNamed: boolean): TypeModel {
  const known = skipNamed ? undefined : ctx.defByType.get(type);
  if (known) return { kind: 'ref', name: known };
  let inProgress = inProgressByContext.get(ctx);
  if (!inProgress) inProgressByContext.set(ctx, (inProgress = new Set()));
  if (!skipNamed && inProgress.has(type)) {
    return ctx.fail(`${ctx.typeText(type)} refers to itself without a name; give the recursive part a name (interface or type alias)`);
  }
  inProgress.add(type);
  try {
    for (const m of matchers) {
      if (skipNamed && m === named) continue;
      const model = m.match(type, ctx);
      if (model) return model;
    }
  } finally {
    if (!skipNamed) inProgress.delete(type);
  }
  return ctx.fail(`type ${ctx.typeText(type)} is not supported`);
}

export { ModelContext } from './context.js';
export type { Matcher } from './context.js';
