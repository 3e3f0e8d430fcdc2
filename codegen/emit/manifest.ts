/** Program model → `manifest.json` (format: runtime/manifest.ts). */
import { MANIFEST_VERSION, type Manifest, type ParamInfo, type TargetInfo } from '../../runtime/manifest.js';
import type { ProgramModel } from '../model/types.js';
import { argsSchema, toSchema } from './json-schema.js';

const byKey = <T>(entries: [string, T][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export function buildManifest(program: ProgramModel): Manifest {
  const targets: Record<string, TargetInfo> = {};
  for (const t of [...program.targets].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const params: ParamInfo[] = t.params.map((p) => ({ name: p.name, ...(p.optional ? { optional: true } : {}), ...(p.rest ? { rest: true } : {}) }));
    const info: TargetInfo = { module: t.module, export: t.export, shape: t.shape, params, args: argsSchema(t.params), returns: toSchema(t.returns) };
    if (t.inbox) Object.assign(info, { inbox: toSchema(t.inbox), inboxIndex: t.inboxIndex });
    targets[t.name] = info;
  }
  const manifest: Manifest = { agentix: MANIFEST_VERSION, modules: Object.fromEntries(byKey(Object.entries(program.modules))), targets };
  if (program.defs.length > 0) manifest.$defs = Object.fromEntries(byKey(program.defs.map((d) => [d.name, toSchema(d.model)])));
  return manifest;
}

export function manifestFile(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}
