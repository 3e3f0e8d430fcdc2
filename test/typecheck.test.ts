/** The whole project (sources, tests, bench, examples) type-checks under the strict tsconfig. */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from './support/serve.js';

test('tsc --noEmit finds no type errors', () => {
  const r = spawnSync(process.execPath, [`${repoRoot}/node_modules/typescript/bin/tsc`, '--noEmit', '-p', `${repoRoot}/tsconfig.json`], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.is(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
});

test.run();
