/**
 * The local deployment's sandbox options under hostile or unusual input, with
 * real server processes: a lifetime longer than a Node timer can hold does
 * not end the sandbox at once.
 */
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalDeployment } from '../../deploy/local.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { repoRoot } from '../support/serve.js';

const ctx = {} as { temp: string; project: string };
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const test = suite('local deployment: sandbox options under hostile input');
test.before(() => {
  ctx.temp = mkdtempSync(join(tmpdir(), 'agentix-local-hostile-test-'));
  ctx.project = join(ctx.temp, 'p');
  cpSync(join(repoRoot, 'test/deploy/sandbox-fixture'), ctx.project, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
  symlinkSync(join(repoRoot, 'node_modules'), join(ctx.project, 'node_modules'));
});
test.after(() => rmSync(ctx.temp, { recursive: true, force: true }));

test('a lifetimeMs longer than a Node timer holds (2^32 ms) does not delete the sandbox at once', async () => {
  const d = new LocalDeployment();
  // setTimeout turns any delay above 2^31-1 ms into 1 ms
  const sandbox = await d.create({ image: '', bundle: ctx.project, lifetimeMs: 2 ** 32, startupTimeoutMs: 120_000 });
  try {
    await pause(300); // far more than the 1 ms an overflowed timer waits
    assert.is((await d.get(sandbox.id)).state, 'running');
    const client = await RuntimeClient.connect(sandbox);
    try {
      assert.is(await client.call('hello', ['still here']), 'hello still here');
    } finally {
      await client.close();
    }
  } finally {
    await d.delete(sandbox.id);
  }
});

test.run();
