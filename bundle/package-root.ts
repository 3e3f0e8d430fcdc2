/**
 * Finds the agentix package's own root (the directory of its package.json),
 * both in the source tree (bundle/*.ts under tsx) and when installed
 * (dist/bundle/*.js), so the build can find the runtime and the Nix files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function agentixRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'agentix') return (cached = dir);
      } catch {
        // unreadable package.json on the way up: keep looking
      }
    }
    dir = dirname(dir);
  }
  throw new Error(`cannot find the agentix package root above ${fileURLToPath(import.meta.url)}`);
}
