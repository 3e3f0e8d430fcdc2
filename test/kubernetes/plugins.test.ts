/**
 * The bash and files plugins inside Kubernetes sandboxes through the stand-in
 * API server: the plugin fixture built into a bundle once, then the shared
 * plugin suite (test/plugins/suite.ts) against a busybox and an empty task
 * image, one in each inject mode. Working directory /tmp, as in the Docker
 * plugin tests. Everything this file makes carries a run label and is
 * removed at the end.
 *
 * No engine: skipped with the reason printed (CI=true: fails).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { removeBundle, taskImage } from '../support/docker.js';
import { clusterLeftovers, engineLeftovers, k8sDeployment, standInOrSkip } from '../support/kubernetes.js';
import { connectSandbox } from '../support/sandbox-client.js';
import { repoRoot } from '../support/serve.js';
import { pluginSuite } from '../plugins/suite.js';

const RUN = `agentix-test-k8s-plugins-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const labels = { [RUN_LABEL]: RUN };
const BUNDLE = `${RUN}:1`;
const k = await standInOrSkip('plugins in kubernetes (stand-in)', labels);

async function setup(): Promise<{ imageId: string; images: { busybox: string; empty: string }; temp: string }> {
  const temp = mkdtempSync(join(tmpdir(), 'agentix-plugins-k8s-'));
  try {
    const dir = join(temp, 'plain');
    cpSync(join(repoRoot, 'test/plugins/fixture'), dir, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
    // sed as well: an image ID of its own, never the Docker plugin tests' bundle
    const [built, busybox, empty] = await Promise.all([buildBundle({ projectDir: dir, tag: BUNDLE, tools: ['bash', 'coreutils', 'sed'] }), taskImage(k!.docker, 'busybox'), taskImage(k!.docker, 'empty')]);
    return { imageId: built.imageId, images: { busybox, empty }, temp };
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw err;
  }
}

if (k) {
  const ready = setup();
  ready.catch(() => undefined); // reported by each suite's before hook
  for (const [kind, inject] of [
    ['busybox', 'image'],
    ['empty', 'copy'],
  ] as const) {
    pluginSuite(`plugins through the stand-in API server (${kind} task image, inject=${inject})`, async () => {
      const { images } = await ready;
      return connectSandbox(k8sDeployment(k.standIn, { AGENTIX_K8S_INJECT: inject }), { image: images[kind], bundle: BUNDLE, labels, workdir: '/tmp' });
    }).run();
  }

  const cleanup = suite('plugins through the stand-in API server: nothing left behind');
  cleanup('stand-in API server: no pod, secret, container or volume of this run remains; the bundle is removed', async () => {
    const s = await ready.catch(() => undefined);
    try {
      assert.equal(clusterLeftovers(k.standIn), []);
      await k.standIn.close();
      if (s) await removeBundle(k.docker, s.imageId);
      assert.equal(await engineLeftovers(k.docker, RUN_LABEL, RUN), []);
    } finally {
      if (s) rmSync(s.temp, { recursive: true, force: true });
    }
  });
  cleanup.run();
} else {
  const skipped = suite('plugins in kubernetes (no engine)');
  skipped.skip('every stand-in plugin test', () => {});
  skipped.run();
}
