/**
 * Object types: interfaces' and aliases' structure, type literals, mapped
 * types (`Record<K, V>`, `Partial<T>`), index signatures. Optional properties
 * drop their `| undefined`.
 */
import { ts } from 'ts-morph';
import type { Matcher, ModelContext } from './context.js';
import type { PropertyModel, TypeModel } from './types.js';
import { convertWithoutUndefined } from './union.js';

export const object: Matcher = {
  kind: 'object',
  match(type, ctx) {
    if (!(type.flags & ts.TypeFlags.Object)) return undefined;
    return objectModel(type, ctx);
  },
};

export function objectModel(type: ts.Type, ctx: ModelContext): TypeModel {
  const c = ctx.checker;
  const properties: PropertyModel[] = [];
  const owner = ctx.typeText(type);
  for (const prop of c.getPropertiesOfType(type)) {
    const decl = prop.valueDeclaration ?? prop.declarations?.[0];
    if (prop.name.startsWith('__@')) {
      ctx.at(decl, `property ${prop.name} of ${owner}`, () => ctx.fail('symbol-keyed properties cannot cross the wire'));
    }
    const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
    const propType = c.getTypeOfSymbol(prop);
    const model = ctx.at(decl, `property "${prop.name}" of ${owner}`, () => (optional ? convertWithoutUndefined(propType, ctx) : ctx.convert(propType)));
    properties.push(optional ? { name: prop.name, type: model, optional } : { name: prop.name, type: model });
  }
  let index: TypeModel | undefined;
  for (const info of c.getIndexInfosOfType(type)) {
    // String and number keys are both strings once serialized; a template key is checked as any string.
    const value = ctx.at(info.declaration, `index signature of ${owner}`, () => ctx.convert(info.type));
    index = index ? { kind: 'union', members: [index, value] } : value;
  }
  return index ? { kind: 'object', properties, index } : { kind: 'object', properties };
}
