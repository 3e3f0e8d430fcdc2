/**
 * `--check`: what changed between the files on disk and the ones we would
 * write, in words a user can act on (which file, which target).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Manifest } from '../runtime/manifest.js';

export interface GeneratedFile {
  /** Absolute path. */
  path: string;
  content: string;
}

export function staleReasons(files: GeneratedFile[], display: (path: string) => string, manifestPath: string, next: Manifest): string[] {
  const reasons: string[] = [];
  for (const f of files) {
    if (!existsSync(f.path)) {
      reasons.push(`${display(f.path)}: missing`);
      continue;
    }
    const current = readFileSync(f.path, 'utf8');
    if (current === f.content) continue;
    if (f.path === manifestPath) {
      const detail = manifestChanges(current, next);
      reasons.push(...(detail.length > 0 ? detail.map((d) => `${display(f.path)}: ${d}`) : [`${display(f.path)}: differs`]));
    } else {
      reasons.push(`${display(f.path)}: differs`);
    }
  }
  return reasons;
}

function manifestChanges(currentText: string, next: Manifest): string[] {
  let current: Partial<Manifest>;
  try {
    current = JSON.parse(currentText);
  } catch {
    return ['not valid JSON'];
  }
  const out: string[] = [];
  const before = (current.targets ?? {}) as unknown as Record<string, Record<string, unknown>>;
  const after = next.targets as unknown as Record<string, Record<string, unknown>>;
  for (const name of Object.keys(after)) {
    if (!(name in before)) out.push(`target "${name}" added`);
    else {
      const fields = [...new Set([...Object.keys(before[name]!), ...Object.keys(after[name]!)])].filter(
        (k) => JSON.stringify(before[name]![k]) !== JSON.stringify(after[name]![k]),
      );
      if (fields.length > 0) out.push(`target "${name}" changed (${fields.join(', ')})`);
    }
  }
  for (const name of Object.keys(before)) if (!(name in after)) out.push(`target "${name}" removed`);
  const defsBefore = (current.$defs ?? {}) as Record<string, unknown>;
  const defsAfter = (next.$defs ?? {}) as Record<string, unknown>;
  for (const name of new Set([...Object.keys(defsBefore), ...Object.keys(defsAfter)])) {
    if (!(name in defsBefore)) out.push(`type "${name}" added`);
    else if (!(name in defsAfter)) out.push(`type "${name}" removed`);
    else if (JSON.stringify(defsBefore[name]) !== JSON.stringify(defsAfter[name])) out.push(`type "${name}" changed`);
  }
  if (JSON.stringify(current.modules) !== JSON.stringify(next.modules)) out.push('modules changed');
  return out;
}
