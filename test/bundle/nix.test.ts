/**
 * The Nix path (`agentix build --nix`): Nix cannot fetch anything on our
 * machines, so the expressions are checked by parsing only. Needs Debian's
 * nix-bin (bash .ci/nix.sh); without it: skipped with the reason printed
 * (CI=true: fails).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildWithNix, nixAvailable, nixExpression } from '../../bundle/nix.js';

const run = promisify(execFile);

async function hasNixInstantiate(): Promise<boolean> {
  return run('nix-instantiate', ['--version']).then(() => true, () => false);
}

if (await hasNixInstantiate()) {
  test('nix/bundle.nix parses and declares what the bundle needs', async () => {
    const { stdout } = await run('nix-instantiate', ['--parse', nixExpression()]);
    // the parsed form keeps the attribute names: VOLUME /nix, the layered image, the npm lock reader
    assert.match(stdout, /streamLayeredImage/);
    assert.match(stdout, /"\/nix"/);
    assert.match(stdout, /importNpmLock/);
    assert.match(stdout, /package-lock\.json/);
  });

  test('nix-build is found by the --nix path', async () => {
    assert.is(await nixAvailable(), true);
  });
} else if (process.env.CI === 'true') {
  test('nix-instantiate is installed (bash .ci/nix.sh)', () => {
    assert.unreachable('nix-instantiate not found under CI: .ci/run must run .ci/nix.sh');
  });
} else {
  process.stdout.write('\nSKIPPING nix tests: nix-instantiate not found (bash .ci/nix.sh installs Debian nix-bin)\n\n');
  test.skip('nix/bundle.nix parses', () => {});
}

test('--nix without Nix on the host stops with a clear error', async () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent-agentix-test';
  try {
    await buildWithNix({ projectDir: '.', tag: 'x:1' });
    assert.unreachable('should fail');
  } catch (err) {
    assert.match((err as Error).message, /--nix needs Nix on this host \(nix-build not found\)/);
  } finally {
    process.env.PATH = path;
  }
});

test.run();
