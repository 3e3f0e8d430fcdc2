/**
 * Checks of Kubernetes objects against the official OpenAPI schema, as two
 * packages ship it:
 *
 *   - kubernetes-models: the schema as JSON Schema validators (types, required
 *     fields, formats); like the API server, it lets unknown fields through;
 *   - @kubernetes/client-node's generated models (from the v1.34 OpenAPI): the
 *     attribute map of every type, which `unknownFields` walks so that a field
 *     the schema does not define (a typo, a field of a newer version) fails
 *     here instead of being dropped silently by the client's serializer.
 */
import * as k8s from '@kubernetes/client-node';
import { Pod, Secret, ServiceAccount } from 'kubernetes-models/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';

interface Attribute {
  name: string;
  baseName: string;
  type: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };

/** kubernetes-models' verdict: undefined when valid, else its message. */
export function openApiError(obj: { kind?: string }): string | undefined {
  try {
    const models: Record<string, new (data: never) => { validate(): void }> = { Pod, Secret, ServiceAccount, Role, RoleBinding };
    const Model = obj.kind ? models[obj.kind] : undefined;
    if (!Model) return `no schema for kind ${obj.kind}`;
    new Model(obj as never).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Every field of `obj` that the schema type `type` (e.g. V1Pod) does not define, as paths. */
export function unknownFields(obj: unknown, type: string, path = ''): string[] {
  const prim: Record<string, string> = { string: 'string', number: 'number', boolean: 'boolean' };
  if (obj === undefined || obj === null) return [];
  if (type in prim) return typeof obj === prim[type] ? [] : [`${path || '/'}: expected ${type}, got ${typeof obj}`];
  if (type === 'IntOrString') return typeof obj === 'string' || typeof obj === 'number' ? [] : [`${path}: expected int or string`];
  if (type === 'any' || type === 'object') return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(obj) ? obj.flatMap((v, i) => unknownFields(v, array[1]!, `${path}/${i}`)) : [`${path}: expected an array`];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return Object.entries(obj as object).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}/${k}`));
  const model = (k8s as unknown as Record<string, Model | undefined>)[type];
  if (!model?.getAttributeTypeMap) return [`${path}: the schema type ${type} is not known to this check`];
  if (typeof obj !== 'object' || Array.isArray(obj)) return [`${path}: expected an object (${type})`];
  const attrs = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]));
  return Object.entries(obj as Record<string, unknown>).flatMap(([k, v]) => {
    const a = attrs.get(k);
    return a ? unknownFields(v, a.type, `${path}/${k}`) : [`${path}/${k}: not a field of ${type}`];
  });
}
