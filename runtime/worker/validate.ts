/**
 * Argument (and optionally result) validation in the worker, on TypeBox
 * 1.4.3's JIT compiler. `compileValidator` runs once per target; the returned
 * function is the hot path: one compiled `Check` and, only when that fails,
 * the slower error walk turned into `{ path, message }` issues.
 *
 * The schemas come from the manifest (JSON Schema, TypeBox dialect). Values
 * arrive after a msgpack round trip (runtime/codec.ts), so three non-JSON
 * types exist: bigint (`type: "bigint"`, native to TypeBox), and Date and
 * Uint8Array/Buffer, which the compiler writes as `{ "instanceof": "Date" }` /
 * `{ "instanceof": "Uint8Array" }` and which are turned into TypeBox
 * refinements here.
 */
import { Compile } from 'typebox/compile';

export interface ValidationIssue {
  /** JSON pointer into the validated value: `/0/tags/2`, `` for the value itself. */
  path: string;
  /** `expected string`, `missing required property`. */
  message: string;
}

export type ValidateFn = (value: unknown) => ValidationIssue[];

type Schema = Record<string, unknown>;

const NO_ISSUES: ValidationIssue[] = Object.freeze([]) as unknown as ValidationIssue[];

const INSTANCE_CHECKS: Record<string, (v: unknown) => boolean> = {
  Date: (v) => v instanceof Date && !Number.isNaN(v.getTime()),
  Uint8Array: (v) => v instanceof Uint8Array,
};

/**
 * Compiles `schema` (with shared `defs`, referenced as `#/$defs/Name`) into a
 * validator. Throws if the schema itself is malformed.
 */
export function compileValidator(schema: unknown, defs?: Record<string, unknown>): ValidateFn {
  if (schema === undefined || (isObject(schema) && Object.keys(schema).length === 0)) return () => NO_ISSUES;
  const root: Schema = { ...(prepare(schema) as Schema) };
  if (defs && Object.keys(defs).length > 0) root.$defs = prepare(defs);
  const validator = Compile(root as never);
  return (value) => {
    if (validator.Check(value)) return NO_ISSUES;
    return toIssues(validator.Errors(value) as unknown as RawError[], root);
  };
}

/** Deep copy with `instanceof` nodes turned into TypeBox refinements. */
function prepare(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(prepare);
  if (!isObject(node)) return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'const' || k === 'enum' ? v : prepare(v);
  if (typeof node.instanceof === 'string') {
    const name = node.instanceof;
    const check = INSTANCE_CHECKS[name];
    if (!check) throw new Error(`schema: unsupported "instanceof": ${JSON.stringify(name)} (supported: ${Object.keys(INSTANCE_CHECKS).join(', ')})`);
    out['~refine'] = [{ check, error: () => `expected ${name}` }];
  }
  return out;
}

interface RawError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

function toIssues(all: RawError[], root: Schema): ValidationIssue[] {
  const errors = closestMembers(all);
  const issues: ValidationIssue[] = [];
  for (const e of errors) {
    if (e.keyword === 'required') {
      for (const p of (e.params.requiredProperties as string[] | undefined) ?? []) {
        issues.push({ path: `${e.instancePath}/${escapePointer(p)}`, message: 'missing required property' });
      }
      continue;
    }
    if (e.keyword === 'additionalProperties') continue; // per key below, once the value errors are known
    issues.push({ path: e.instancePath, message: messageOf(e, root) });
  }
  // An extra key whose value has the wrong type is reported by its value's own
  // error; keep only keys that are not allowed at all.
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    for (const key of (e.params.additionalProperties as string[] | undefined) ?? []) {
      const path = `${e.instancePath}/${escapePointer(key)}`;
      if (!issues.some((i) => i.path === path || i.path.startsWith(path + '/'))) issues.push({ path, message: 'unexpected property' });
    }
  }
  return issues;
}

/**
 * A failed union reports every member's errors and then its own. If one
 * member is plainly the one the value meant — it got past the union's own
 * level there (the value has that member's kind; the mistake is inside it),
 * deeper than in any other member — keep that member's errors, which say
 * where the mistake is (`/0/hunks/0/lines/1: expected string` rather than
 * `/0: expected StructuredPatch | array`; the same for an optional
 * argument's `T | undefined`). Otherwise keep the union's own message.
 */
function closestMembers(errors: RawError[]): RawError[] {
  const dropped = new Set<RawError>();
  const depth = (e: RawError) => e.instancePath.split('/').length + (e.keyword === 'required' ? 1 : 0);
  for (const union of errors) {
    if (union.keyword !== 'anyOf' && union.keyword !== 'oneOf') continue;
    // TypeBox names the union by the schema holding `anyOf`; its members' errors sit under `<that>/anyOf/<i>/`.
    const prefix = `${union.schemaPath}/${union.keyword}/`;
    const members = new Map<string, RawError[]>();
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      const member = e.schemaPath.slice(prefix.length).split('/')[0]!;
      members.set(member, [...(members.get(member) ?? []), e]);
    }
    const own = depth(union);
    let best: { errors: RawError[]; depth: number } | undefined;
    let tie = false;
    for (const memberErrors of members.values()) {
      // A mismatch at the union's own level means the value is not of this member's kind.
      if (memberErrors.some((e) => e.instancePath === union.instancePath && e.keyword !== 'required' && e.keyword !== 'additionalProperties')) continue;
      const d = Math.max(...memberErrors.map(depth));
      if (d <= own) continue;
      if (!best || d > best.depth) { best = { errors: memberErrors, depth: d }; tie = false; }
      else if (d === best.depth) tie = true;
    }
    const keep = best && !tie ? new Set(best.errors) : undefined;
    for (const list of members.values()) for (const e of list) if (!keep?.has(e)) dropped.add(e);
    if (keep) dropped.add(union);
  }
  return errors.filter((e) => !dropped.has(e));
}

function messageOf(e: RawError, root: Schema): string {
  const p = e.params;
  switch (e.keyword) {
    case 'type': return `expected ${Array.isArray(p.type) ? p.type.join(' | ') : String(p.type)}`;
    case 'const': return `expected ${show(p.allowedValue)}`;
    case 'enum': return `expected one of ${(p.allowedValues as unknown[]).map(show).join(', ')}`;
    case 'minItems': return `expected at least ${p.limit} item${p.limit === 1 ? '' : 's'}`;
    case 'maxItems': return `expected at most ${p.limit} item${p.limit === 1 ? '' : 's'}`;
    case 'pattern': return `expected a string matching ${String(p.pattern)}`;
    case '~refine': return String(p.message);
    case 'not': return 'expected nothing here (never)';
    case 'anyOf': case 'oneOf': {
      const s = schemaAt(root, e.schemaPath);
      const branches = s?.[e.keyword];
      return Array.isArray(branches) ? `expected ${branches.map((b) => describe(b, root)).join(' | ')}` : 'no union member matched';
    }
    default: return e.message;
  }
}

/** Short human name of a schema for union messages. */
function describe(s: unknown, root: Schema): string {
  if (!isObject(s)) return String(s);
  if (typeof s.$ref === 'string') return s.$ref.replace(/^#\/\$defs\//, '');
  if (typeof s.instanceof === 'string') return s.instanceof;
  if ('const' in s) return show(s.const);
  if (Array.isArray(s.enum)) return s.enum.map(show).join(' | ');
  if (Array.isArray(s.anyOf)) return s.anyOf.map((b) => describe(b, root)).join(' | ');
  if (typeof s.pattern === 'string') return `string matching /${s.pattern}/`;
  if (typeof s.type === 'string') return s.type;
  if (Array.isArray(s['~refine'])) return 'object';
  return 'any value';
}

/** Follows a schema path like `#/prefixItems/0/properties/x/anyOf`, stepping through `$ref`s as TypeBox does. */
function schemaAt(root: Schema, path: string): Schema | undefined {
  let node: unknown = root;
  for (const raw of path.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    while (isObject(node) && !(key in node) && typeof node.$ref === 'string') node = schemaAt(root, node.$ref);
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  while (isObject(node) && typeof node.$ref === 'string' && !('anyOf' in node)) node = schemaAt(root, node.$ref);
  return isObject(node) ? node : undefined;
}

const show = (v: unknown) => (typeof v === 'bigint' ? `${v}n` : JSON.stringify(v));
const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);
