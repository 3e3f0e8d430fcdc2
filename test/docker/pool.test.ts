/**
 * Warm pools and fork on a real Docker engine: one bundle (the hello
 * fixture) built once, busybox task containers. A pool hands out running
 * containers and removes them; a task image that does not exist fails claims
 * with the engine's own error; fork starts from a snapshot with the files
 * written before. Everything this file makes carries a run label (snapshots
 * inherit it) and is checked gone at the end.
 *
 * No engine: skipped with the reason printed (CI=true: fails).
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { DockerDeployment, statusOf } from '../../deploy/docker.js';
import { fork } from '../../deploy/fork.js';
import { createPool } from '../../deploy/pool.js';
import type { SandboxConfig } from '../../deploy/types.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { AgentixError } from '../../runtime/wire/errors.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';
import { containersWith, engineOrSkip, removeBundle, taskImage } from '../support/docker.js';

const docker = await engineOrSkip('docker pools');
const RUN = `agentix-test-pool-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const BUNDLE = `${RUN}:1`;
const labels = { [RUN_LABEL]: RUN };

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

const ctx = {} as { fixture: FixtureCopy; imageId: string; config: SandboxConfig };

const test = suite('docker: warm pools and fork');
test.before(async () => {
  ctx.fixture = copyHelloFixture();
  // A bundle image of its own: other files build the hello fixture with the same
  // tools, and removing a bundle goes by image ID (so would take this one's along).
  appendFileSync(join(ctx.fixture.dir, 'src', 'index.ts'), `\nexport const poolTestRun = ${JSON.stringify(RUN)};\n`);
  const [built, busybox] = await Promise.all([buildBundle({ projectDir: ctx.fixture.dir, tag: BUNDLE, generate: false, tools: ['bash', 'coreutils'] }), taskImage(docker!, 'busybox')]);
  ctx.imageId = built.imageId;
  ctx.config = { image: busybox, bundle: BUNDLE, labels };
});

async function running(id: string): Promise<boolean> {
  return docker!
    .getContainer(id)
    .inspect()
    .then(
      (i) => i.State.Running,
      (err) => (statusOf(err) === 404 ? false : Promise.reject(err)),
    );
}

const mine = () => containersWith(docker!, `${RUN_LABEL}=${RUN}`);

test('a pool hands out running containers that answer calls; release and close remove them', async () => {
  const d = new DockerDeployment();
  const pool = createPool(d, ctx.config, { size: 2 });
  try {
    const sb = await pool.claim({ timeoutMs: 120_000 });
    const client = await RuntimeClient.connect(sb);
    try {
      assert.is(await client.call('hello', ['pool']), 'hello pool');
    } finally {
      await client.close();
    }
    await pool.release(sb);
    assert.not.ok(await running(sb.id), 'the released container is gone');
    const again = await pool.claim({ timeoutMs: 120_000 });
    assert.is.not(again.id, sb.id);
    await pool.release(again);
  } finally {
    await pool.close();
  }
  assert.is((await mine()).length, 0, 'close removed the idle containers and those being created');
});

test('a pool of sandboxes without network hands out the warm one: its health look goes through the Unix socket', async () => {
  const d = new DockerDeployment();
  const pool = createPool(d, { ...ctx.config, network: 'none' }, { size: 1 });
  try {
    const end = Date.now() + 120_000;
    while (pool.stats().idle < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const before = (await mine()).map((c) => c.Id);
    assert.is(before.length, 1, 'one warm sandbox');
    const sb = await pool.claim({ timeoutMs: 120_000 });
    assert.match(sb.runtimeUrl, /^ws\+unix:\/\//);
    assert.is(sb.id, before[0], 'the warm sandbox passed its look (a failed look would discard it and hand out a new one)');
    const client = await RuntimeClient.connect(sb);
    try {
      assert.is(await client.call('hello', ['offline']), 'hello offline');
    } finally {
      await client.close();
    }
    await pool.release(sb);
  } finally {
    await pool.close();
  }
  assert.is((await mine()).length, 0);
});

test('a task image that does not exist fails claims with the engine\'s error as cause, never an unhandled rejection', async () => {
  const d = new DockerDeployment();
  const pool = createPool(d, { ...ctx.config, image: `${RUN}-no-such-image:0` }, { size: 2, attempts: 2, backoffMs: 10 });
  try {
    const err = (await pool.claim({ timeoutMs: 120_000 }).catch((e: unknown) => e)) as AgentixError;
    assert.ok(err instanceof AgentixError, String(err));
    assert.is(err.code, 'UNAVAILABLE');
    assert.match(err.message, /sandbox creations in a row failed/);
    assert.match(String((err.cause as Error)?.message), /task image .*no-such-image:0 not found/);
  } finally {
    await pool.close();
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(unhandled, []);
});

test('fork starts a sandbox from a snapshot with the files written before; the original keeps running', async () => {
  const d = new DockerDeployment();
  const pool = createPool(d, ctx.config, { size: 1 });
  const original = await pool.claim({ timeoutMs: 120_000 });
  let snapshot = '';
  try {
    const a = await RuntimeClient.connect(original);
    try {
      await a.call('sh', ['echo step-k > /tmp/progress']);
      const forked = await fork(pool.deployment, original, { ...pool.config, env: { BRANCH: 'b' } });
      snapshot = forked.snapshot;
      try {
        assert.is.not(forked.id, original.id);
        const b = await RuntimeClient.connect(forked);
        try {
          assert.is(await b.call('sh', ['cat /tmp/progress']), 'step-k\n', 'the file written before the fork is there');
          assert.is(await b.call('env', ['BRANCH']), 'b', 'the fork runs with the config given');
          await b.call('sh', ['echo fork > /tmp/progress']);
        } finally {
          await b.close();
        }
      } finally {
        await d.delete(forked.id);
      }
      assert.ok(await running(original.id), 'the original still runs');
      assert.is(await a.call('sh', ['cat /tmp/progress']), 'step-k\n', "the fork's writes stay in the fork");
    } finally {
      await a.close();
    }
  } finally {
    await pool.release(original);
    await pool.close();
    if (snapshot) await docker!.getImage(snapshot).remove({ force: true }).catch(() => undefined);
  }
});

test('finally: nothing of this file remains', async () => {
  await cleanup();
  assert.is((await mine()).length, 0);
  const images = await docker!.listImages({ filters: { label: [`${RUN_LABEL}=${RUN}`] } } as object);
  assert.is(images.length, 0, images.map((i) => i.RepoTags).join(' '));
});

async function cleanup(): Promise<void> {
  for (const c of await mine()) await docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  for (const i of await docker!.listImages({ filters: { label: [`${RUN_LABEL}=${RUN}`] } } as object)) await docker!.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  if (ctx.imageId) await removeBundle(docker!, ctx.imageId);
  ctx.fixture?.remove();
}
test.after(cleanup);

if (docker) test.run();
else {
  const skipped = suite('docker pools (no engine)');
  skipped.skip('every Docker pool and fork test', () => {});
  skipped.run();
}
