/** `agentix gen` as a user runs it: the summary table, `--out`, `--check`. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot, tempProject } from './helpers.js';

const gen = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'cli', 'gen.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });

test('gen writes agentix-gen/ and prints a summary; --check passes, then names the stale target', () => {
  const p = tempProject({ 'src/index.ts': 'export async function run(input: string, n?: number): Promise<string[]> { return [input]; }\nexport async function* count(n: number) { yield n; }\n' });
  try {
    const r = gen([p.dir]);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /target\s+shape\s+parameters\s+returns/);
    assert.match(r.stdout, /run\s+unary\s+\(input: string, n\?: number\)\s+string\[\]/);
    assert.match(r.stdout, /count\s+stream\s+\(n: number\)\s+number/);
    for (const f of ['manifest.json', 'client.ts', 'schemas.ts']) assert.ok(existsSync(join(p.dir, 'agentix-gen', f)), f);
    const check = gen([p.dir, '--check']);
    assert.is(check.status, 0, check.stderr);
    assert.match(check.stdout, /run\s+unary/);
    const src = join(p.dir, 'src', 'index.ts');
    writeFileSync(src, readFileSync(src, 'utf8').replace('n?: number', 'n?: string'));
    const stale = gen([p.dir, '--check']);
    assert.is(stale.status, 1);
    assert.match(stale.stderr, /agentix-gen\/manifest\.json: target "run" changed \(args\)/);
    assert.match(stale.stderr, /agentix-gen\/client\.ts: differs/);
  } finally {
    p.cleanup();
  }
});

test('--out chooses the directory; bad options are usage errors', () => {
  const p = tempProject({ 'src/index.ts': 'export function f(): number { return 1; }\n' });
  try {
    assert.is(gen([p.dir, '--out', join(p.dir, 'gen')]).status, 0);
    assert.ok(existsSync(join(p.dir, 'gen', 'manifest.json')));
    const bad = gen([p.dir, '--frobnicate']);
    assert.is(bad.status, 1);
    assert.match(bad.stderr, /unknown option --frobnicate\nusage: agentix gen/);
  } finally {
    p.cleanup();
  }
});

test.run();
