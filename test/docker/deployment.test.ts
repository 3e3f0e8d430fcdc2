/**
 * The Docker deployment against a real engine: one bundle (the hello fixture)
 * built and loaded once, then run in a busybox task image and in an empty one
 * (no libc, no shell), many at once, through failures, and cleaned up by
 * `session` and by `agentix gc`. Nothing of this file's remains afterwards:
 * checked by label at the end.
 *
 * No engine: skipped with the reason printed (CI=true: fails).
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects } from '../support/assert.js';
import type Docker from 'dockerode';
import { buildBundle } from '../../bundle/index.js';
import { carrierName, DockerDeployment, ensureCarrier, LABELS, statusOf } from '../../deploy/docker.js';
import { loadDeployment } from '../../deploy/load.js';
import { session } from '../../deploy/session.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';
import { runGc, sandboxOfCrashedHost } from '../support/crash.js';
import { containersWith, engineOrSkip, removeBundle, taskImage, volumeExists } from '../support/docker.js';

const docker = await engineOrSkip('docker deployment');
const RUN = `agentix-test-${process.pid}-${randomBytes(3).toString('hex')}`;
/** Every sandbox of this file carries it, so the final check finds strays. */
const RUN_LABEL = 'agentix-test.run';
const BUNDLE = `${RUN}:1`;

interface Ctx {
  docker: Docker;
  fixture: FixtureCopy;
  imageId: string;
  busybox: string;
  empty: string;
}
const ctx = {} as Ctx;

async function setup(): Promise<void> {
  ctx.docker = docker!;
  ctx.fixture = copyHelloFixture();
  const [built, busybox, empty] = await Promise.all([
    buildBundle({ projectDir: ctx.fixture.dir, tag: BUNDLE, generate: false, tools: ['bash', 'coreutils', 'git', 'grep'] }),
    taskImage(docker!, 'busybox'),
    taskImage(docker!, 'empty'),
  ]);
  Object.assign(ctx, { imageId: built.imageId, busybox, empty });
}

async function gone(id: string): Promise<boolean> {
  return docker!
    .getContainer(id)
    .inspect()
    .then(
      () => false,
      (err) => statusOf(err) === 404,
    );
}

const labels = { [RUN_LABEL]: RUN };

// ---------------------------------------------------------------- serving
const serving = suite('docker: the bundle serves calls in any task image');
serving.before(setup);

for (const kind of ['busybox', 'empty'] as const) {
  serving(`in the ${kind} image: unary, stream, the bundled node and bash, the dependency`, async () => {
    const Docker = await loadDeployment('docker');
    await session(new Docker(), { image: ctx[kind], bundle: BUNDLE, labels, env: { GREETING: 'hi' } }, async (sandbox) => {
      // the engine is on this host: reached through the runtime's socket, no published port (sandbox-network.test.ts)
      assert.match(sandbox.runtimeUrl, /^ws\+unix:\/\/\/.*\/runtime\.sock$/);
      const client = await RuntimeClient.connect(sandbox);
      try {
        assert.is(await client.call('hello', ['docker']), 'hello docker');
        const items: number[] = [];
        for await (const n of client.stream<number>('count', [4])) items.push(n);
        assert.equal(items, [0, 1, 2, 3]);
        const where = await client.call<{ execPath: string; imageLibc: boolean }>('where', []);
        assert.is(where.execPath, '/nix/runtime/bin/node');
        assert.is(where.imageLibc, false, 'neither task image has a libc: node runs on the bundled one');
        assert.is(await client.call('same', [{ a: [1, 2] }, { a: [1, 2] }]), true);
        assert.is(await client.call('sh', ['echo "$((6 * 7)) $(basename "$BASH")"']), '42 bash\n');
        assert.is(await client.call('env', ['GREETING']), 'hi');
      } finally {
        await client.close();
      }
    });
  });
}

serving('eight sandboxes at once, from one carrier', async () => {
  const deployment = new DockerDeployment();
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      session(deployment, { image: i % 2 ? ctx.busybox : ctx.empty, bundle: BUNDLE, labels }, async (sandbox) => {
        const client = await RuntimeClient.connect(sandbox);
        try {
          return await client.call<string>('hello', [`n${i}`]);
        } finally {
          await client.close();
        }
      }),
    ),
  );
  assert.equal(results, Array.from({ length: 8 }, (_, i) => `hello n${i}`));
  const carriers = await containersWith(docker!, `${LABELS.bundleId}=${ctx.imageId}`).then((cs) => cs.filter((c) => c.Labels[LABELS.carrier] === '1'));
  assert.is(carriers.length, 1, 'one carrier per bundle image');
});

serving('carrier creation races (as between host processes) end with one carrier that everyone uses', async () => {
  const name = carrierName(ctx.imageId);
  await docker!.getContainer(name).remove({ force: true, v: true }).catch(() => undefined);
  // no per-process dedupe here: every call goes to the engine, all but one get "name in use"
  const names = await Promise.all(Array.from({ length: 4 }, () => ensureCarrier(docker!, ctx.imageId, BUNDLE)));
  assert.equal(names, [name, name, name, name]);
  const carriers = (await containersWith(docker!, `${LABELS.bundleId}=${ctx.imageId}`)).filter((c) => c.Labels[LABELS.carrier] === '1');
  assert.is(carriers.length, 1);
});

serving('get() reports a running sandbox, then deleted', async () => {
  const deployment = new DockerDeployment();
  const sandbox = await deployment.create({ image: ctx.busybox, bundle: BUNDLE, labels, workdir: '/tmp', cpus: 0.5, memoryBytes: 256 * 1024 * 1024, platform: `linux/${process.arch === 'x64' ? 'amd64' : process.arch}` });
  try {
    const info = await deployment.get(sandbox.id);
    assert.is(info.state, 'running');
    assert.is(info.bundle, BUNDLE);
    assert.is(info.image, ctx.busybox);
    assert.is(info.runtimeUrl, sandbox.runtimeUrl);
    const c = await docker!.getContainer(sandbox.id).inspect();
    assert.is(c.HostConfig.Memory, 256 * 1024 * 1024);
    assert.is(c.HostConfig.NanoCpus, 5e8);
    const client = await RuntimeClient.connect(sandbox);
    assert.is((await client.call<{ cwd: string }>('where', [])).cwd, '/tmp');
    await client.close();
  } finally {
    await deployment.delete(sandbox.id);
  }
  assert.is((await deployment.get(sandbox.id)).state, 'deleted');
  assert.ok(await gone(sandbox.id));
  await deployment.delete(sandbox.id); // idempotent
});

serving('as a non-root user in the empty image, git works from the bundle (GIT_EXEC_PATH from the bundle label)', async () => {
  await session(new DockerDeployment(), { image: ctx.empty, bundle: BUNDLE, labels, user: '65534:65534', workdir: '/tmp' }, async (sandbox) => {
    const client = await RuntimeClient.connect(sandbox);
    try {
      const script = 'id -u; git init -q r && cd r && echo hi > f && git add f && git -c user.name=t -c user.email=t@t commit -qm one && git log --format=%s | grep -c one';
      assert.is(await client.call('sh', [script]), '65534\n1\n');
    } finally {
      await client.close();
    }
  });
});

serving('AGENTIX_DOCKER_NETWORK=host: the runtime binds a free loopback port of the host', async () => {
  process.env.AGENTIX_DOCKER_NETWORK = 'host';
  let deployment: DockerDeployment;
  try {
    deployment = new DockerDeployment();
  } finally {
    delete process.env.AGENTIX_DOCKER_NETWORK;
  }
  await session(deployment, { image: ctx.busybox, bundle: BUNDLE, labels }, async (sandbox) => {
    const client = await RuntimeClient.connect(sandbox);
    try {
      assert.is(await client.call('hello', ['host']), 'hello host');
      assert.is((await docker!.getContainer(sandbox.id).inspect()).HostConfig.NetworkMode, 'host');
    } finally {
      await client.close();
    }
  });
});

if (docker) serving.run();

// ---------------------------------------------------------------- failures
const failures = suite('docker: failures leave nothing behind');

failures('session() deletes the sandbox when the callback throws', async () => {
  let id = '';
  await rejects(
    session(new DockerDeployment(), { image: ctx.empty, bundle: BUNDLE, labels }, async (sandbox) => {
      id = sandbox.id;
      throw new Error('boom inside the session');
    }),
    /boom inside the session/,
  );
  assert.ok(id);
  assert.ok(await gone(id), 'container removed');
});

failures('a sandbox that cannot start is removed and its error says why', async () => {
  const before = (await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).length;
  // the empty image has no /etc/passwd: the engine cannot resolve the user
  await rejects(new DockerDeployment().create({ image: ctx.empty, bundle: BUNDLE, labels, user: 'nosuchuser' }), /failed to start.*nosuchuser|nosuchuser/s);
  // a startup timeout: the sandbox is removed and the error names the limit
  await rejects(new DockerDeployment().create({ image: ctx.busybox, bundle: BUNDLE, labels, startupTimeoutMs: 1 }), /did not answer \/health within 1 ms/);
  assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).length, before, 'no container left');
});

failures('a bad AGENTIX_DOCKER_NETWORK fails in the constructor', () => {
  process.env.AGENTIX_DOCKER_NETWORK = 'overlay';
  try {
    assert.throws(() => new DockerDeployment(), /AGENTIX_DOCKER_NETWORK must be "bridge" or "host", got "overlay"/);
  } finally {
    delete process.env.AGENTIX_DOCKER_NETWORK;
  }
});

failures('clear errors for a missing bundle, a missing task image, a bad config', async () => {
  const d = new DockerDeployment();
  await rejects(d.create({ image: ctx.busybox, bundle: 'agentix-test-no-such-bundle:1' }), /bundle image agentix-test-no-such-bundle:1 not found: build it with `agentix build/);
  await rejects(d.create({ image: 'agentix-test-no-such-image:1', bundle: BUNDLE }), /task image agentix-test-no-such-image:1 not found/);
  await rejects(d.create({ image: ctx.busybox, bundle: ctx.busybox }), /is not an agentix bundle/);
  await rejects(d.create({ image: ctx.busybox, bundle: BUNDLE, cpus: -1 }), /`cpus` must be a positive number/);
  await rejects(d.create({ image: ctx.busybox, bundle: BUNDLE, platform: 'linux/s390x' }), /bundle .* is linux\/amd64 but the sandbox asks for platform linux\/s390x/);
});

if (docker) failures.run();

// ---------------------------------------------------------------- gc
const gc = suite('docker: agentix gc');

gc('removes the sandbox of a host process that crashed, keeps a live one', async () => {
  // a real crash: a child process creates a sandbox, then dies by SIGKILL
  const orphan = await sandboxOfCrashedHost('docker.ts', 'DockerDeployment', { image: ctx.busybox, bundle: BUNDLE, labels });
  assert.match(orphan, /^[0-9a-f]{64}$/, `child printed ${JSON.stringify(orphan)}`);
  assert.not.ok(await gone(orphan), 'the crashed host left its sandbox');

  const live = await new DockerDeployment().create({ image: ctx.busybox, bundle: BUNDLE, labels });
  try {
    const { code, out } = await runGc(['--docker']);
    const lines = out.split(/(?<=\n)/);
    assert.is(code, 0);
    assert.ok(await gone(orphan), 'gc removed the orphan');
    assert.not.ok(await gone(live.id), 'gc kept the sandbox whose owner (this process) runs');
    assert.ok(lines.some((l) => l.startsWith('removed sandbox') && l.includes(BUNDLE)), lines.join(''));
  } finally {
    await new DockerDeployment().delete(live.id);
  }
});

/** Removes everything of this file (idempotent); returns the carrier volumes it found. */
async function cleanup(): Promise<string[]> {
  const id = ctx.imageId ?? (await docker!.getImage(BUNDLE).inspect().then((i) => i.Id, () => undefined));
  const volumes = id ? await removeBundle(docker!, id) : [];
  for (const c of await containersWith(docker!, `${RUN_LABEL}=${RUN}`)) await docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  ctx.fixture?.remove();
  return volumes;
}

gc('finally: nothing of this file remains (sandboxes, carrier, its volume, the image)', async () => {
  const volumes = await cleanup();
  assert.ok(volumes.length > 0, 'the carrier had a /nix volume');
  assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).length, 0);
  assert.is((await containersWith(docker!, `${LABELS.bundleId}=${ctx.imageId}`)).length, 0);
  for (const v of volumes) assert.not.ok(await volumeExists(docker!, v), `volume ${v} removed`);
  assert.not.ok(await docker!.getImage(BUNDLE).inspect().then(() => true, () => false), 'bundle image removed');
});

// also when a test above failed half-way
gc.after(async () => {
  await cleanup();
});

if (docker) gc.run();

if (!docker) {
  const skipped = suite('docker (no engine)');
  skipped.skip('every Docker deployment test', () => {});
  skipped.run();
}
