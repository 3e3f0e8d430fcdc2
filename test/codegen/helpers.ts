/** Shared by the codegen tests: fixture locations and throwaway projects. */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const fixturesDir = join(repoRoot, 'fixtures', 'codegen');

/**
 * The corpus of real packages' functions (fixtures/codegen/corpus) is checked
 * by corpus.test.ts for what it means, not against committed output (which
 * would be 600 KB that every compiler change rewrites).
 */
export const corpusDir = join(fixturesDir, 'corpus');

/** Fixture projects with committed expected/ output: folders with a package.json, but the corpus. */
export function fixtureNames(): string[] {
  return readdirSync(fixturesDir).filter((n) => n !== 'corpus' && existsSync(join(fixturesDir, n, 'package.json'))).sort();
}

/**
 * The plugin fixture's stand-in npm package lives in vendor/ (node_modules is
 * not committed); link it where `npm install` would put it.
 */
export function linkFixturePlugins(): void {
  const link = join(fixturesDir, 'plugin', 'node_modules', 'agentix-plugin-greet');
  if (existsSync(join(link, 'package.json'))) return;
  mkdirSync(dirname(link), { recursive: true });
  rmSync(link, { force: true, recursive: true });
  symlinkSync('../vendor/agentix-plugin-greet', link, 'dir');
}

/**
 * A throwaway project: `files` maps relative paths to contents. Remove it
 * with `cleanup`. `withPackages` links this checkout's node_modules into it,
 * for projects that re-export installed packages.
 */
export function tempProject(files: Record<string, string>, agentix: Record<string, unknown> = { plugins: [] }, opts: { withPackages?: boolean } = {}): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-codegen-'));
  const all: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'tmp-project', private: true, type: 'module', agentix }, null, 2),
    ...files,
  };
  for (const [rel, content] of Object.entries(all)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  if (opts.withPackages) symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
