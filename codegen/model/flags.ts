/** Small checker-flag helpers the public TypeScript API does not export. */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';

/** A generic instantiation (`Array<T>`, `Page<User>`, tuples): has type arguments. */
export function isReference(type: TS.Type): type is TS.TypeReference {
  return (type.flags & ts.TypeFlags.Object) !== 0 && ((type as TS.ObjectType).objectFlags & ts.ObjectFlags.Reference) !== 0;
}

export const PRIMITIVE_FLAGS =
  ts.TypeFlags.String | ts.TypeFlags.Number | ts.TypeFlags.BigInt | ts.TypeFlags.Boolean |
  ts.TypeFlags.StringLiteral | ts.TypeFlags.NumberLiteral | ts.TypeFlags.BigIntLiteral | ts.TypeFlags.BooleanLiteral |
  ts.TypeFlags.TemplateLiteral;

/** The `true` literal type (the checker's intrinsic name for it), without printing the type. */
export const isTrue = (type: TS.Type): boolean => (type as { intrinsicName?: string }).intrinsicName === 'true';
