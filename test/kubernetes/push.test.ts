/**
 * `agentix build --push` against a real registry (Debian's docker-registry on
 * 127.0.0.1:5000, started by .ci/run through .ci/registry.sh), and the
 * stand-in API server's kubelet pulling the pushed bundle from it by digest,
 * in both inject modes. Also Docker's stored credentials: an `auths` entry
 * and a stand-in credential helper.
 *
 * No engine or no registry: skipped with the reason printed (CI=true: fails).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dockerCredentials, registryOf } from '../../bundle/push.js';
import { main as buildMain } from '../../cli/build.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { copyHelloFixture } from '../support/bundle-fixture.js';
import { taskImage } from '../support/docker.js';
import { clusterLeftovers, engineLeftovers, k8sDeployment, standInOrSkip } from '../support/kubernetes.js';

const REGISTRY = '127.0.0.1:5000';
const RUN = `agentix-test-push-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const labels = { [RUN_LABEL]: RUN };

// ---------------------------------------------------------------- what this file needs (asked before any suite runs: uvu reports once all queued suites ran)
async function registryProblem(): Promise<string | undefined> {
  try {
    const r = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(5_000) });
    return r.status === 200 ? undefined : `GET http://${REGISTRY}/v2/ answered ${r.status}`;
  } catch (err) {
    return `no registry answers on ${REGISTRY} (${(err as Error).message})`;
  }
}

const problem = await registryProblem();
if (problem && process.env.CI === 'true') throw new Error(`push: a registry on ${REGISTRY} is required under CI (.ci/registry.sh): ${problem}`);
if (problem) process.stdout.write(`\nSKIPPING push tests: ${problem}\n(run bash .ci/registry.sh to start one)\n\n`);
const k = problem ? undefined : await standInOrSkip('push', labels);

// ---------------------------------------------------------------- credentials (no engine needed)
const creds = suite('push: Docker stored credentials');

creds('registryOf reads the registry host as Docker does', () => {
  assert.is(registryOf('127.0.0.1:5000/p:1'), '127.0.0.1:5000');
  assert.is(registryOf('ghcr.io/org/p'), 'ghcr.io');
  assert.is(registryOf('localhost/p'), 'localhost');
  assert.is(registryOf('org/p'), 'docker.io');
  assert.is(registryOf('p'), 'docker.io');
});

creds('an auths entry of $DOCKER_CONFIG/config.json; a stand-in credential helper named by credHelpers; nothing stored: anonymous', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-docker-config-'));
  try {
    const helper = join(dir, 'docker-credential-agentixtest');
    writeFileSync(helper, `#!/bin/sh\nread server\n[ "$server" = "helped.example" ] || { echo "credentials not found in native keychain" >&2; exit 1; }\necho '{"ServerURL":"helped.example","Username":"robot","Secret":"s3cret"}'\n`);
    chmodSync(helper, 0o755);
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { 'reg.example': { auth: Buffer.from('alice:pa:ss').toString('base64') }, 'https://index.docker.io/v1/': { identitytoken: 'tok' } }, credHelpers: { 'helped.example': 'agentixtest', 'missing.example': 'agentixtest' } }),
    );
    const env = { ...process.env, DOCKER_CONFIG: dir, PATH: `${dir}:${process.env.PATH}` };
    assert.equal(await dockerCredentials('reg.example', env), { username: 'alice', password: 'pa:ss', serveraddress: 'reg.example' });
    assert.equal(await dockerCredentials('docker.io', env), { identitytoken: 'tok', serveraddress: 'docker.io' });
    assert.equal(await dockerCredentials('helped.example', env), { username: 'robot', password: 's3cret', serveraddress: 'helped.example' });
    assert.equal(await dockerCredentials('missing.example', env), {});
    assert.equal(await dockerCredentials('other.example', env), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

creds.run();

// ---------------------------------------------------------------- push and pull
const push = suite('push: agentix build --push to a real registry; the stand-in API server pulls it by digest');
const repo = `${REGISTRY}/${RUN}`;
let reference = '';
const fixture = copyHelloFixture();

push('agentix build --push prints the digest reference, and the registry has that manifest', async () => {
  const out: string[] = [];
  const write = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    // bash and sed only: an image ID no other test file builds
    assert.is(await buildMain([fixture.dir, '-t', `${repo}:1`, '--push', '--no-gen', '--tools', 'bash,sed']), 0);
  } finally {
    process.stdout.write = write;
    process.stderr.write = err;
  }
  reference = out.join('').trim();
  assert.match(reference, new RegExp(`^${repo.replace(/[.]/g, '\\.')}@sha256:[0-9a-f]{64}$`));
  const digest = reference.split('@')[1]!;
  const r = await fetch(`http://${REGISTRY}/v2/${RUN}/manifests/${digest}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  assert.is(r.status, 200);
  assert.is(r.headers.get('docker-content-digest'), digest);
});

for (const inject of ['image', 'copy'] as const)
  push(`stand-in API server, inject=${inject}: a pod whose bundle is the digest reference pulls it from the registry and serves`, async () => {
    // gone from the engine: the stand-in's kubelet has to pull it, as a node would
    await k!.docker.getImage(`${repo}:1`).remove({ force: true }).catch(() => undefined);
    await k!.docker.getImage(reference).remove({ force: true }).catch(() => undefined);
    assert.not.ok(await k!.docker.getImage(reference).inspect().then(() => true, () => false), 'the bundle is not in the engine before the pod starts');
    const d = k8sDeployment(k!.standIn, { AGENTIX_K8S_INJECT: inject });
    const sandbox = await d.create({ image: await taskImage(k!.docker, 'busybox'), bundle: reference, labels });
    try {
      const client = await RuntimeClient.connect(sandbox);
      assert.is(await client.call('hello', ['registry']), 'hello registry');
      await client.close();
      assert.ok(await k!.docker.getImage(reference).inspect().then(() => true, () => false), 'the kubelet pulled the bundle');
    } finally {
      await d.delete(sandbox.id);
    }
  });

push('finally: the pushed manifest, the pulled image, its carrier and every pod of this file are gone', async () => {
  await cleanup();
  assert.equal(clusterLeftovers(k!.standIn), []);
  assert.equal(await engineLeftovers(k!.docker, RUN_LABEL, RUN), []);
  if (reference) {
    const r = await fetch(`http://${REGISTRY}/v2/${RUN}/manifests/${reference.split('@')[1]}`, { method: 'HEAD' });
    assert.is(r.status, 404, 'manifest deleted from the registry (its blobs stay until the registry garbage-collects)');
  }
});

async function cleanup(): Promise<void> {
  await k!.standIn.close();
  const id = reference ? await k!.docker.getImage(reference).inspect().then((i) => i.Id, () => undefined) : undefined;
  if (id) {
    const { removeBundle } = await import('../support/docker.js');
    await removeBundle(k!.docker, id);
  }
  await k!.docker.getImage(`${repo}:1`).remove({ force: true }).catch(() => undefined);
  if (reference) await fetch(`http://${REGISTRY}/v2/${RUN}/manifests/${reference.split('@')[1]}`, { method: 'DELETE' }).catch(() => undefined);
  fixture.remove();
}
push.after(async () => {
  await cleanup().catch(() => undefined);
});

if (k) push.run();
else {
  fixture.remove();
  const skipped = suite('push (no engine or no registry)');
  skipped.skip('agentix build --push and the pull through the stand-in', () => {});
  skipped.run();
}
