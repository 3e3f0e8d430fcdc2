/**
 * The manifest: the list of functions a runtime may call, written by
 * `agentix gen` (or by hand) to `<out>/manifest.json`. Only targets listed here
 * can be called; anything else is NOT_FOUND. Format documented in
 * docs/manifest.md.
 */
import { readFileSync } from 'node:fs';
import type { Shape } from './wire/protocol.js';

export const MANIFEST_VERSION = 1;

export interface ParamInfo {
  name: string;
  optional?: boolean;
  rest?: boolean;
}

export interface TargetInfo {
  /** Key into `modules`. */
  module: string;
  /** Export name in that module (`default` for a default export). */
  export: string;
  shape: Shape;
  /** The parameters the caller passes (for bidi: without the inbox). */
  params: ParamInfo[];
  /** JSON Schema of the argument tuple (for bidi: without the inbox). Absent: not validated. */
  args?: unknown;
  /** JSON Schema of the unary result or of one stream / bidi item. */
  returns?: unknown;
  /** Bidi: JSON Schema of one inbox item. */
  inbox?: unknown;
  /** Bidi: position of the Channel parameter in the function's own parameter list. */
  inboxIndex?: number;
}

export interface Manifest {
  agentix: typeof MANIFEST_VERSION;
  /** Module id → source file relative to the project root (`app` is the entry; plugins use their namespace). */
  modules: Record<string, string>;
  /** Target name (`run`, `bash.run`) → target. */
  targets: Record<string, TargetInfo>;
  /** Shared schema definitions, referenced as `#/$defs/Name` from any schema above. */
  $defs?: Record<string, unknown>;
}

export function readManifest(file: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read manifest ${file}: ${(err as Error).message}`);
  }
  return checkManifest(parsed, file);
}

/** Structural check with messages that name the offending field. */
export function checkManifest(value: unknown, where = 'manifest'): Manifest {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (!isObject(value)) fail('not a JSON object');
  const m = value as Record<string, unknown>;
  if (m.agentix !== MANIFEST_VERSION) fail(`"agentix" must be ${MANIFEST_VERSION}, got ${JSON.stringify(m.agentix)}`);
  if (!isObject(m.modules)) fail('"modules" must be an object of module id → file');
  if (!isObject(m.targets)) fail('"targets" must be an object');
  const modules = m.modules as Record<string, unknown>;
  for (const [id, file] of Object.entries(modules)) if (typeof file !== 'string') fail(`modules.${id} must be a string`);
  for (const [name, t] of Object.entries(m.targets as Record<string, unknown>)) {
    if (!isObject(t)) fail(`targets.${name} must be an object`);
    const target = t as Record<string, unknown>;
    if (typeof target.module !== 'string' || !(target.module in modules))
      fail(`targets.${name}.module ${JSON.stringify(target.module)} is not in "modules"`);
    if (typeof target.export !== 'string') fail(`targets.${name}.export must be a string`);
    if (target.shape !== 'unary' && target.shape !== 'stream' && target.shape !== 'bidi')
      fail(`targets.${name}.shape must be unary, stream or bidi`);
    if (!Array.isArray(target.params)) fail(`targets.${name}.params must be an array`);
  }
  return value as Manifest;
}

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);
