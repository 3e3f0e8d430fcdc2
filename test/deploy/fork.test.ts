/**
 * fork() on a backend that cannot snapshot (local: a server process, no
 * filesystem of its own to copy): a clear error that names the backend,
 * before anything is created. Forking itself is tested on Docker
 * (test/docker/pool.test.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentixError, fork, loadDeployment, type SandboxConfig } from '../../index.js';
import { repoRoot } from '../support/serve.js';

const config: SandboxConfig = { image: '', bundle: `${repoRoot}/fixtures/runtime` };

test('fork on a deployment without snapshot() fails with an AgentixError naming the backend, and the original keeps running', async () => {
  const d = new (await loadDeployment('local'))();
  const sb = await d.create(config);
  try {
    const err = (await fork(d, sb, config).catch((e: unknown) => e)) as AgentixError;
    assert.ok(err instanceof AgentixError, String(err));
    assert.is(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, /the local deployment cannot snapshot a sandbox/);
    assert.is((await d.get(sb.id)).state, 'running');
  } finally {
    await d.delete(sb.id);
  }
});

test('fork refuses what is not a sandbox, naming the argument', async () => {
  const d = new (await loadDeployment('local'))();
  const err = (await fork(d, {} as never, config).catch((e: unknown) => e)) as AgentixError;
  assert.ok(err instanceof AgentixError);
  assert.match(err.message, /the second argument must be a Sandbox \(or its id\)/);
});

test.run();
