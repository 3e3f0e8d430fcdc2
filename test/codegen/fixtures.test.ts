/**
 * Every fixture project under fixtures/codegen/ compiles to exactly its
 * committed expected/ output. `UPDATE_EXPECTED=1 npm test -- codegen`
 * rewrites the expected files after a deliberate change.
 */
import { cpSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../../codegen/index.js';
import { fixtureNames, fixturesDir, linkFixturePlugins } from './helpers.js';

const update = !!process.env.UPDATE_EXPECTED;
linkFixturePlugins();

for (const name of fixtureNames()) {
  test(`fixture ${name}: output matches expected/`, async () => {
    const projectDir = join(fixturesDir, name);
    const result = await generate({ projectDir, outDir: join(projectDir, 'expected'), check: !update, write: update });
    if (!update) assert.equal(result.stale, [], `stale output for fixture ${name} (run UPDATE_EXPECTED=1 npm test -- codegen after a deliberate change):\n${result.stale.join('\n')}`);
    assert.equal(result.files.map((f) => f.path.slice(projectDir.length + 1)), ['expected/manifest.json', 'expected/client.ts', 'expected/schemas.ts']);
  });
}

test('output is deterministic: two runs give identical bytes', async () => {
  const projectDir = join(fixturesDir, 'structures');
  const a = await generate({ projectDir, write: false });
  const b = await generate({ projectDir, write: false });
  assert.equal(a.files, b.files);
  assert.not.match(a.files.map((f) => f.content).join(''), /\d{4}-\d\d-\d\dT/, 'no timestamps');
});

test('--check names the stale file and the changed target; gen then brings it up to date', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-codegen-'));
  try {
    cpSync(join(fixturesDir, 'shapes'), dir, { recursive: true });
    await generate({ projectDir: dir });
    assert.equal((await generate({ projectDir: dir, check: true })).stale, []);
    const src = join(dir, 'src', 'index.ts');
    writeFileSync(src, readFileSync(src, 'utf8').replace('greet(name: string,', 'greet(name: number,') + '\nexport function added(): number { return 1; }\n');
    const stale = (await generate({ projectDir: dir, check: true })).stale;
    assert.ok(stale.includes('agentix-gen/manifest.json: target "greet" changed (args)'), stale.join('\n'));
    assert.ok(stale.includes('agentix-gen/manifest.json: target "added" added'), stale.join('\n'));
    assert.ok(stale.includes('agentix-gen/client.ts: differs'), stale.join('\n'));
    await generate({ projectDir: dir });
    assert.equal((await generate({ projectDir: dir, check: true })).stale, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
