/**
 * A warm pool on the Kubernetes backend, through the stand-in API server
 * (pods run as containers on the local engine): the warm sandbox passes its
 * /health look through the backend's port-forward and is handed out, release
 * deletes its pod, close deletes the rest. Everything this file makes carries
 * a run label and is checked gone at the end.
 *
 * No engine: skipped with the reason printed (CI=true: fails).
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { createPool } from '../../deploy/pool.js';
import type { Sandbox } from '../../deploy/types.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { copyHelloFixture } from '../support/bundle-fixture.js';
import { removeBundle, taskImage } from '../support/docker.js';
import { clusterLeftovers, engineLeftovers, k8sDeployment, standInOrSkip } from '../support/kubernetes.js';

const RUN = `agentix-test-k8s-pool-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const labels = { [RUN_LABEL]: RUN };
const BUNDLE = `${RUN}:1`;
const k = await standInOrSkip('pools on kubernetes (stand-in)', labels);

if (k) {
  const test = suite('kubernetes (stand-in): warm pool');
  const fixture = copyHelloFixture();
  // a bundle image of its own (bundles are removed by image ID)
  appendFileSync(join(fixture.dir, 'src', 'index.ts'), `\nexport const poolTestRun = ${JSON.stringify(RUN)};\n`);
  let imageId = '';
  let busybox = '';
  test.before(async () => {
    const [built, image] = await Promise.all([buildBundle({ projectDir: fixture.dir, tag: BUNDLE, generate: false, tools: ['bash', 'coreutils'] }), taskImage(k.docker, 'busybox')]);
    imageId = built.imageId;
    busybox = image;
  });

  test('the warm sandbox is handed out after its look through the port-forward; release and close delete the pods', async () => {
    const d = k8sDeployment(k.standIn);
    const pool = createPool(d, { image: busybox, bundle: BUNDLE, labels, startupTimeoutMs: 120_000 }, { size: 1 });
    let claimed: Sandbox | undefined;
    try {
      const end = Date.now() + 180_000;
      while (pool.stats().idle < 1 && Date.now() < end) {
        assert.is(pool.stats().failures, 0, `creation failed: ${String(pool.stats().lastError)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const pods = k.standIn.store.all('pods').map((p) => p.metadata.name);
      assert.is(pods.length, 1, 'one warm pod');
      const sb = (claimed = await pool.claim({ timeoutMs: 180_000 }));
      assert.ok(pods.some((name) => sb.id.includes(name) || name.includes(sb.id)), `the warm sandbox (${sb.id}) was handed out, not a new one (${pods.join(' ')})`);
      const client = await RuntimeClient.connect(sb);
      try {
        assert.is(await client.call('hello', ['k8s']), 'hello k8s');
      } finally {
        await client.close();
      }
      claimed = undefined;
      await pool.release(sb);
      assert.is((await d.get(sb.id)).state, 'deleted');
    } finally {
      if (claimed) await pool.release(claimed);
      await pool.close();
    }
    assert.equal(clusterLeftovers(k.standIn), [], 'close deleted the idle pod and the one being created');
  });

  let closed = false;
  /** Closes the stand-in (its pods' containers go with it) and removes the bundle, whatever failed before. */
  const cleanup = async () => {
    if (closed) return;
    closed = true;
    try {
      await k.standIn.close();
      if (imageId) await removeBundle(k.docker, imageId);
    } finally {
      fixture.remove();
    }
  };

  test('finally: no pod, secret, container or volume of this run remains', async () => {
    const pods = clusterLeftovers(k.standIn);
    await cleanup();
    assert.equal(pods, []);
    assert.equal(await engineLeftovers(k.docker, RUN_LABEL, RUN), []);
  });
  test.after(cleanup);

  test.run();
} else {
  const skipped = suite('pools on kubernetes (no engine)');
  skipped.skip('every stand-in pool test', () => {});
  skipped.run();
}
