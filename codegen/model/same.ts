/** Structural equality of type models (for de-duplicating union members and overloads). */
import type { TypeModel } from './types.js';

export function sameModel(a: TypeModel, b: TypeModel): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
