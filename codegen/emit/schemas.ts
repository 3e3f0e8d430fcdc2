/**
 * `schemas.ts`: the same JSON Schemas as the manifest, as TypeScript consts
 * for host-side use (e.g. `Compile({ ...targets.run.args, $defs })` with
 * TypeBox, or `compileValidator` from agentix). No imports, so it type-checks
 * anywhere.
 */
import type { Manifest } from '../../runtime/manifest.js';
import { HEADER } from './header.js';

export function schemasFile(manifest: Manifest): string {
  const targets = Object.fromEntries(Object.entries(manifest.targets).map(([name, t]) => {
    const entry: Record<string, unknown> = { args: t.args, returns: t.returns };
    if (t.inbox !== undefined) entry.inbox = t.inbox;
    return [name, entry];
  }));
  return [
    HEADER,
    '',
    '/** Named types, referenced as `#/$defs/<Name>` from the schemas below. */',
    `export const $defs = ${JSON.stringify(manifest.$defs ?? {}, null, 2)} as const;`,
    '',
    '/** Per target: `args` (the argument tuple), `returns` (result or one stream item), `inbox` (bidi: one inbox item). */',
    `export const targets = ${JSON.stringify(targets, null, 2)} as const;`,
    '',
  ].join('\n');
}
