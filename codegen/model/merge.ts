/** Combining type models without the checker: structural equality, unions without duplicates. */
import type { TypeModel } from './types.js';

export function sameModel(a: TypeModel, b: TypeModel): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** One model for several: nested unions flattened, duplicates removed, a single member unwrapped. */
export function unionOf(models: TypeModel[]): TypeModel {
  const members: TypeModel[] = [];
  for (const m of models.flatMap((x) => (x.kind === 'union' ? x.members : [x]))) {
    if (!members.some((y) => sameModel(y, m))) members.push(m);
  }
  if (members.some((m) => m.kind === 'unknown')) return { kind: 'unknown' };
  const any = members.find((m) => m.kind === 'any');
  if (any) return any;
  return members.length === 1 ? members[0]! : { kind: 'union', members };
}

