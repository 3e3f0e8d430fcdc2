/**
 * What `npm pack` publishes holds every source file the built-in plugins
 * import: the plugins ship as TypeScript and are compiled into each project
 * (agentix gen / build), so an import that points outside the published files
 * breaks every installed (not linked) Agentix.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from './support/serve.js';

/** Every relative import of `file`, as repository paths of .ts sources. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    if (existsSync(target)) out.push(target);
  }
  return out;
}

function pluginSources(dir = join(repoRoot, 'plugins')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? pluginSources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('the packed package holds every source file the built-in plugins import, directly or through others', () => {
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { files: { path: string }[] }[];
  const files = new Set(packed[0]!.files.map((f) => f.path));
  const seen = new Set<string>();
  const todo = pluginSources();
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...relativeImports(f));
  }
  const missing = [...seen].map((f) => relative(repoRoot, f)).filter((p) => !files.has(p));
  assert.equal(missing, [], `imported by the plugins but not published: ${missing.join(', ')}`);
  assert.ok(seen.size > 10, `the walk found the plugins' sources (${seen.size})`);
});

test.run();
