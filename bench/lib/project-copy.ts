/**
 * The bench works on temp copies of projects so that `agentix gen`/`serve`
 * output never lands in the source tree. A copy gets a tsconfig whose `paths`
 * point `agentix` at this checkout, so `import type { Channel } from 'agentix'`
 * resolves to the real declaring module wherever the copy lives.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { atExit } from './cleanup.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_PROJECT = join(REPO_ROOT, 'bench/project');

export interface TempDir { dir: string; remove(): void }

/**
 * Temp dirs live under bench/results/tmp/ (git-ignored) rather than the system
 * temp dir: anything started there from source with a bare `--import tsx`
 * resolves `tsx` (and the compiler resolves `agentix`) from the working
 * directory, which always works inside this checkout.
 */
export const TEMP_ROOT = join(REPO_ROOT, 'bench/results/tmp');

export function tempDir(prefix: string): TempDir {
  mkdirSync(TEMP_ROOT, { recursive: true });
  const dir = mkdtempSync(join(TEMP_ROOT, `${prefix}-`));
  const removeNow = () => rmSync(dir, { recursive: true, force: true });
  const forget = atExit(removeNow);
  return { dir, remove: () => { forget(); removeNow(); } };
}

export function writeProjectTsconfig(dir: string): void {
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, types: [],
      paths: { agentix: [join(REPO_ROOT, 'index.ts')] },
    },
    include: ['src'],
  }, null, 2));
}

/** A copy of bench/project (source, package.json, hand-written manifest) in a temp dir. */
export function copyBenchProject(): TempDir {
  const t = tempDir('project');
  cpSync(BENCH_PROJECT, t.dir, { recursive: true });
  writeProjectTsconfig(t.dir);
  return t;
}
