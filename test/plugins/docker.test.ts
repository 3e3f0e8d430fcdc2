/**
 * The bash and files plugins inside real Docker sandboxes: the plugin
 * fixture built into a bundle image once, then the shared plugin suite
 * (suite.ts) against a busybox task image and against an empty one (no libc,
 * no shell: bash and coreutils come from the bundle). Working directory
 * /tmp, so the files root is not "/" and the escape checks apply.
 * Everything this file creates carries a run label and is removed at the end.
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
import { DockerDeployment } from '../../deploy/docker.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { RemoteError } from '../../runtime/wire/errors.js';
import { containersWith, engineOrSkip, removeBundle, taskImage } from '../support/docker.js';
import { connectSandbox } from '../support/sandbox-client.js';
import { repoRoot } from '../support/serve.js';
import { pluginSuite } from './suite.js';

const docker = await engineOrSkip('plugins in docker');
const RUN = `agentix-test-plugins-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const labels = { [RUN_LABEL]: RUN };
/** The fixture as it is: a project that only lists the default plugins and depends on nothing itself. */
const PLAIN = `${RUN}-plain:1`;

interface Setup {
  plain: string;
  images: { busybox: string; empty: string };
  temp: string;
}

function copyFixture(temp: string, name: string): string {
  const dir = join(temp, name);
  cpSync(join(repoRoot, 'test/plugins/fixture'), dir, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
  return dir;
}

async function setup(): Promise<Setup> {
  // Copies, so the builds write into a temp dir and not into the source tree.
  const temp = mkdtempSync(join(tmpdir(), 'agentix-plugins-docker-'));
  try {
    const plainDir = copyFixture(temp, 'plain');
    const [plain, busybox, empty] = await Promise.all([
      buildBundle({ projectDir: plainDir, tag: PLAIN }),
      taskImage(docker!, 'busybox'),
      taskImage(docker!, 'empty'),
    ]);
    return { plain: plain.imageId, images: { busybox, empty }, temp };
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw err;
  }
}

if (docker) {
  const ready = setup();
  // A failed build is reported by each suite's before hook, not as an unhandled rejection.
  ready.catch(() => undefined);

  for (const kind of ['busybox', 'empty'] as const) {
    pluginSuite(`plugins in docker (${kind} task image)`, async () => {
      const { images } = await ready;
      return connectSandbox(new DockerDeployment(), { image: images[kind], bundle: PLAIN, labels, workdir: '/tmp' });
    }).run();
  }

  const plain = suite('plugins in docker: a project that only lists the default plugins');
  plain('files.* work without the project depending on tar-stream itself', async () => {
    const { images } = await ready;
    const deployment = new DockerDeployment();
    const sandbox = await deployment.create({ image: images.busybox, bundle: PLAIN, labels, workdir: '/tmp' });
    try {
      const client = await RuntimeClient.connect(sandbox);
      try {
        assert.equal(await client.call('files.write', ['hello.txt', 'hi']), { bytes: 2 });
        assert.is(Buffer.from(await client.call<Uint8Array>('files.read', ['hello.txt'])).toString(), 'hi');
      } finally {
        await client.close();
      }
    } finally {
      await deployment.delete(sandbox.id);
    }
  });
  plain.run();

  const noWorkdir = suite('plugins in docker: a task image without WORKDIR (the files root is "/")');
  noWorkdir('files.read of /proc/self/pagemap stops at the message limit instead of taking the worker down', async () => {
    const { images } = await ready;
    const deployment = new DockerDeployment();
    // A memory limit, so that a regression fails this test with an OOM-killed worker, not the host.
    const sandbox = await deployment.create({ image: images.busybox, bundle: PLAIN, labels, memoryBytes: 512 * 1024 * 1024 });
    try {
      const client = await RuntimeClient.connect(sandbox);
      try {
        assert.is(await client.call('cwd', []), '/');
        const worker = await client.call<number>('workerPid', []);
        const err = await client.call('files.read', ['proc/self/pagemap'], { timeoutMs: 60_000 }).then(() => undefined, (e: RemoteError) => e);
        assert.instance(err, RemoteError);
        assert.is(err!.data?.code, 'PAYLOAD_TOO_LARGE', err!.message);
        assert.is(await client.call('workerPid', []), worker, 'the worker was restarted');
      } finally {
        await client.close();
      }
    } finally {
      await deployment.delete(sandbox.id);
    }
  });
  noWorkdir.run();

  const cleanup = suite('plugins in docker: nothing left behind');
  cleanup('the bundle images, their carriers and every sandbox are removed', async () => {
    const s = await ready.catch(() => undefined);
    try {
      if (s) {
        await removeBundle(docker, s.plain);
      }
    } finally {
      if (s) rmSync(s.temp, { recursive: true, force: true });
    }
    assert.is((await containersWith(docker, `${RUN_LABEL}=${RUN}`)).length, 0, 'a sandbox of this run is still there');
  });
  cleanup.run();
}
