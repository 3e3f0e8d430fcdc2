/** Generated files committed in the repository (examples, runtime fixture) match what `agentix gen` makes now. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../../codegen/index.js';
import { repoRoot } from '../support/serve.js';

for (const dir of ['examples/demo', 'examples/rollout/agent', 'fixtures/runtime', 'fixtures/conformance', 'fixtures/fuzz']) {
  test(`${dir}/agentix-gen is up to date (agentix gen --check)`, async () => {
    const result = await generate({ projectDir: `${repoRoot}/${dir}`, check: true, write: false });
    assert.equal(result.stale, [], `stale: ${result.stale.join('; ')}; run agentix gen ${dir}`);
  });
}

test.run();
