/** Program model → `manifest.json` (format: runtime/manifest.ts). */
import { MANIFEST_VERSION, type Manifest, type ParamInfo, type TargetInfo } from '../../runtime/manifest.js';
import type { ProgramModel, SignatureModel } from '../model/types.js';
import { argsSchema, returnsSchema, toSchema } from './json-schema.js';

const byKey = <T>(entries: [string, T][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export function buildManifest(program: ProgramModel): Manifest {
  const targets: Record<string, TargetInfo> = {};
  for (const t of [...program.targets].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const info: TargetInfo = { module: t.module, export: t.export, shape: t.shape, params: mergedParams(t.signatures), args: argsSchema(t.signatures), returns: returnsSchema(t.signatures) };
    if (t.inbox) Object.assign(info, { inbox: toSchema(t.inbox), inboxIndex: t.inboxIndex });
    targets[t.name] = info;
  }
  const manifest: Manifest = { agentix: MANIFEST_VERSION, modules: Object.fromEntries(byKey(Object.entries(program.modules))), targets };
  if (program.defs.length > 0) manifest.$defs = Object.fromEntries(byKey(program.defs.map((d) => [d.name, toSchema(d.model)])));
  return manifest;
}

/**
 * The parameter list over all overloads (informational: `args` is what is
 * checked): the longest overload's names, a position optional where some
 * overload does not require it.
 */
function mergedParams(signatures: SignatureModel[]): ParamInfo[] {
  const longest = signatures.reduce((a, b) => (b.params.length > a.params.length ? b : a));
  return longest.params.map((p, i) => {
    const optional = signatures.some((s) => !s.params[i] || s.params[i]!.optional) && !p.rest;
    return { name: p.name, ...(optional ? { optional: true } : {}), ...(p.rest ? { rest: true } : {}) };
  });
}

export function manifestFile(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}
