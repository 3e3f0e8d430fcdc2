/**
 * Docker sandbox options (`lifetimeMs`, `snapshot`, `network`) under hostile
 * or unusual input, against a real engine: a lifetime longer than a Node
 * timer can hold does not end the sandbox at once; a snapshot image holds the
 * sandbox's token and env values nowhere, not in the `ContainerConfig` older
 * engines store beside `Config`, not in what `docker save` writes (what a
 * push publishes), and no committed image with them is left behind. Everything this file makes
 * carries a run label and is removed at the end.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { DockerDeployment, LABELS } from '../../deploy/docker.js';
import { rejects } from '../support/assert.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';
import { containersWith, engineOrSkip, removeBundle, taskImage } from '../support/docker.js';
import { assertLongLifetimeKept, withClient, withSandbox } from '../support/sandbox-client.js';

const docker = await engineOrSkip('docker sandbox options under hostile input');
const RUN = `agentix-test-hostile-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const BUNDLE = `${RUN}:1`;
const labels = { [RUN_LABEL]: RUN };

const ctx = {} as { fixture: FixtureCopy; imageId: string; busybox: string };

const test = suite('docker: sandbox options under hostile input');
test.before(async () => {
  ctx.fixture = copyHelloFixture();
  const [built, busybox] = await Promise.all([buildBundle({ projectDir: ctx.fixture.dir, tag: BUNDLE, generate: false, tools: ['bash', 'coreutils'] }), taskImage(docker!, 'busybox')]);
  Object.assign(ctx, { imageId: built.imageId, busybox });
});

test('a lifetimeMs longer than a Node timer holds (2^32 ms) does not delete the sandbox at once', () =>
  assertLongLifetimeKept(new DockerDeployment(), { image: ctx.busybox, bundle: BUNDLE, labels }));

/** Everything `docker save` writes for an image, as one buffer. */
async function saved(ref: string): Promise<Buffer> {
  const stream = (await docker!.getImage(ref).get()) as unknown as AsyncIterable<Buffer>;
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

test("a snapshot holds the sandbox's token and env values nowhere: not in ContainerConfig, not in docker save", async () => {
  const d = new DockerDeployment();
  const secret = `hush-${randomBytes(6).toString('hex')}`;
  const sandbox = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, env: { API_KEY: secret } });
  let ref = '';
  try {
    ref = await d.snapshot(sandbox.id);
    const inspected = JSON.stringify(await docker!.getImage(ref).inspect());
    assert.not.ok(inspected.includes(sandbox.token), 'the token is in docker image inspect');
    assert.not.ok(inspected.includes(secret), 'an env value is in docker image inspect');
    const archive = await saved(ref);
    assert.not.ok(archive.includes(sandbox.token), 'the token is in docker save');
    assert.not.ok(archive.includes(secret), 'an env value is in docker save');
    // the committed image that had them is not left behind (untagged) either
    const ofThis = await docker!.listImages({ all: true, filters: { label: [`${LABELS.snapshotOf}=${sandbox.id}`] } } as object);
    assert.is(ofThis.length, 1, `images of this snapshot: ${ofThis.map((i) => i.Id).join(' ')}`);
    // and a sandbox still starts from it
    await withSandbox(d, { image: ref, bundle: BUNDLE, labels }, (fork) =>
      withClient(fork, async (client) => {
        assert.is(await client.call('env', ['API_KEY']), null);
        assert.is(await client.call('hello', ['fork']), 'hello fork');
      }),
    );
  } finally {
    await d.delete(sandbox.id);
    if (ref) await docker!.getImage(ref).remove({ force: true }).catch(() => undefined);
  }
});

test('env names the deployment sets for the runtime are refused, naming the variable', async () => {
  const d = new DockerDeployment();
  for (const name of ['AGENTIX_TOKEN_FILE', 'AGENTIX_BIND_SOCKET', 'AGENTIX_LIFETIME_MS'])
    await rejects(
      d.create({ image: ctx.busybox, bundle: BUNDLE, labels, env: { [name]: '/etc/hostname' }, startupTimeoutMs: 5_000 }).then(async (s) => {
        await d.delete(s.id);
        return s;
      }),
      new RegExp(`env ${name} is set by the deployment`),
    );
});

test("delete() of a 'none' sandbox whose container was removed behind its back still removes its socket directory", async () => {
  const d = new DockerDeployment();
  const sandbox = await d.create({ image: ctx.busybox, bundle: BUNDLE, labels, network: 'none' });
  const socketDir = dirname(dirname(sandbox.runtimeUrl.slice('ws+unix://'.length)));
  try {
    assert.ok(existsSync(socketDir), socketDir);
    await docker!.getContainer(sandbox.id).remove({ force: true, v: true }); // `docker rm -f`, another tool's cleanup
    await d.delete(sandbox.id);
    assert.not.ok(existsSync(socketDir), `left behind: ${socketDir}`);
  } finally {
    await d.delete(sandbox.id);
    rmSync(socketDir, { recursive: true, force: true });
  }
});

async function cleanup(): Promise<void> {
  for (const c of await containersWith(docker!, `${RUN_LABEL}=${RUN}`)) await docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  for (const img of await docker!.listImages({ filters: { label: [`${RUN_LABEL}=${RUN}`] } } as object)) await docker!.getImage(img.Id).remove({ force: true }).catch(() => undefined);
  if (ctx.imageId) await removeBundle(docker!, ctx.imageId);
  ctx.fixture?.remove();
}

test('finally: nothing of this file remains', async () => {
  await cleanup();
  assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).length, 0);
  assert.is((await docker!.listImages({ filters: { label: [`${RUN_LABEL}=${RUN}`] } } as object)).length, 0);
});
test.after(cleanup);

if (docker) test.run();
