/**
 * Object types: interfaces' and aliases' structure, type literals, mapped
 * types (`Record<K, V>`, `Partial<T>`), index signatures. Optional properties
 * drop their `| undefined`. What never crosses the wire is left out, with a
 * note: symbol-keyed properties and index signatures, and optional
 * function-typed properties (`split?: (s: string) => string[]`) — nothing can
 * pass a function, so leaving one out is simply the truth. In an argument,
 * any optional property that cannot cross the wire is left out the same way
 * (the caller sends less, never more). A required one is refused.
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';
import type { PropertyModel, TypeModel } from './types.js';
import { GenError } from '../errors.js';
import { isCallable, isOnlyCallable } from './callable.js';
import { unionOf } from './merge.js';
import { convertWithoutUndefined } from './union.js';

export const object: Matcher = {
  kind: 'object',
  match(type, ctx) {
    if (!(type.flags & ts.TypeFlags.Object)) return undefined;
    return objectModel(type, ctx);
  },
};

export function objectModel(type: TS.Type, ctx: ModelContext): TypeModel {
  const c = ctx.checker;
  const owner = () => ctx.typeText(type);
  const props = c.getPropertiesOfType(type);
  const infos = c.getIndexInfosOfType(type);
  if (props.length === 0 && infos.length === 0 && !isCallable(type, ctx)) return { kind: 'nonNullish' };
  const properties: PropertyModel[] = [];
  for (const prop of props) {
    const decl = prop.valueDeclaration ?? prop.declarations?.[0];
    if (isSymbolKeyed(prop)) {
      const shown = decl && (ts.isPropertySignature(decl) || ts.isPropertyDeclaration(decl)) ? decl.name.getText() : '[symbol]';
      ctx.at(decl, () => `property ${shown} of ${owner()}`, () => ctx.note('symbol-keyed property left out (symbol keys never cross the wire)'), `property ${shown}`);
      continue;
    }
    const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
    const propType = c.getTypeOfSymbol(prop);
    const label = () => `property "${prop.name}" of ${owner()}`;
    const brief = `property "${prop.name}"`;
    if (optional && isOnlyCallable(propType, ctx)) {
      ctx.at(decl, label, () => ctx.note('optional function-typed property left out of the wire type (functions cannot cross the wire)'), brief);
      continue;
    }
    let model: TypeModel;
    try {
      model = ctx.at(decl, label, () => ctx.attempt(() => (optional ? convertWithoutUndefined(propType, ctx) : ctx.convert(propType))), brief);
    } catch (err) {
      // An optional argument property that cannot cross the wire (`locale?: Locale` full of functions) is simply not sent.
      if (!optional || ctx.direction !== 'in' || !(err instanceof GenError) || err.refusal !== 'wire') throw err;
      ctx.markNarrowed();
      ctx.at(decl, label, () => ctx.note('optional property left out of the argument type (its type cannot cross the wire)'), brief);
      continue;
    }
    properties.push(optional ? { name: prop.name, type: model, optional } : { name: prop.name, type: model });
  }
  const index = indexModel(infos, owner, ctx);
  return index ? { kind: 'object', properties, index } : { kind: 'object', properties };
}

/** TypeScript spells a symbol property's name `__@name@id`. */
const isSymbolKeyed = (prop: TS.Symbol) => (prop.escapedName as string).startsWith('__@');

/**
 * Index signatures. On the wire every key is a string: a string signature
 * covers a number one (TypeScript makes the number one a subtype); a number
 * signature alone constrains all keys; template keys are checked as strings.
 */
function indexModel(infos: readonly TS.IndexInfo[], owner: () => string, ctx: ModelContext): TypeModel | undefined {
  const keyed = infos.filter((info) => {
    if (!(info.keyType.flags & (ts.TypeFlags.ESSymbol | ts.TypeFlags.UniqueESSymbol))) return true;
    ctx.at(info.declaration, () => `index signature of ${owner()}`, () => ctx.note('symbol index signature left out (symbol keys never cross the wire)'), 'index signature');
    return false;
  });
  const strings = keyed.filter((i) => i.keyType.flags & ts.TypeFlags.String);
  const chosen = strings.length > 0 ? strings : keyed;
  if (chosen.length === 0) return undefined;
  const values = chosen.map((info) => ctx.at(info.declaration, () => `index signature of ${owner()}`, () => ctx.convert(info.type), 'index signature'));
  return unionOf(values);
}
