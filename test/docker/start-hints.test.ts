/**
 * The Docker deployment hears a sandbox's runtime start (deploy/docker/ready.ts):
 * the runtime's "listening" line and the end of its output wake the health
 * wait. Against the real engine, with busybox containers whose output is
 * chosen here; and the health wait on its own, with a real HTTP server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type Docker from 'dockerode';
import { buildBundle } from '../../bundle/index.js';
import { DockerDeployment } from '../../deploy/docker.js';
import { followStart } from '../../deploy/docker/ready.js';
import { waitHealthy } from '../../deploy/shared/health.js';
import { rejects } from '../support/assert.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';
import { containersWith, engineOrSkip, removeBundle, taskImage } from '../support/docker.js';

const docker = await engineOrSkip('docker start hints');
const LABEL = 'agentix-test.start-hints';
const RUN = `${process.pid}-${randomBytes(3).toString('hex')}`;

/** A busybox container running `script`, removed by the caller. */
async function container(script: string): Promise<Docker.Container> {
  const image = await taskImage(docker!, 'busybox');
  return docker!.createContainer({ Image: image, Cmd: ['sh', '-c', script], Labels: { [LABEL]: RUN } });
}

const never = () => new Promise<void>(() => undefined);

/** A loopback HTTP server whose /health answers 200 once `up` is set. */
async function healthServer(): Promise<{ port: number; up(): void; close(): Promise<void> }> {
  let ok = false;
  const server: Server = createServer((_req, res) => res.writeHead(ok ? 200 : 503).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    up: () => (ok = true),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const hints = suite('docker: the runtime start is heard, not only polled');

hints('the "listening" line is heard from a container attached before its start, and the end of its output', async () => {
  const c = await container('echo "agentix: listening on ws://127.0.0.1:8000"; sleep 1');
  const signal = AbortSignal.timeout(20_000);
  try {
    const followed = await followStart(c, signal);
    assert.ok(followed, 'the engine lets us attach');
    try {
      await c.start();
      const first = await Promise.race([followed.listening.then(() => 'listening'), followed.ended.then(() => 'ended')]);
      assert.is(first, 'listening');
      await followed.ended; // the container exits after its sleep
    } finally {
      followed.close();
    }
  } finally {
    await c.remove({ force: true });
  }
});

hints('other output is not taken for the line', async () => {
  const c = await container('echo "agentix: starting"; echo "listening on nothing" >&2; exit 3');
  try {
    const followed = await followStart(c, AbortSignal.timeout(20_000));
    assert.ok(followed);
    try {
      let heard = false;
      void followed.listening.then(() => (heard = true));
      await c.start();
      await followed.ended;
      await new Promise((r) => setImmediate(r));
      assert.is(heard, false);
    } finally {
      followed.close();
    }
  } finally {
    await c.remove({ force: true });
  }
});

// The health wait on its own. Its poll before a hint is far longer than its startup time:
// a hint that does not wake it fails the test with the timeout.
hints('the listening hint wakes the health wait before its next poll', async () => {
  const health = await healthServer();
  try {
    let heard!: () => void;
    const listening = new Promise<void>((r) => (heard = r));
    const signal = AbortSignal.timeout(10_000);
    const waiting = waitHealthy({ host: '127.0.0.1', port: health.port, timeoutMs: 10_000, signal, hints: { listening, ended: never() }, hintedPollMs: 60_000 });
    await new Promise((r) => setTimeout(r, 30));
    health.up();
    heard();
    await waiting;
    assert.is(signal.aborted, false, 'answered before its startup time was up, not by the poll that follows the timeout');
  } finally {
    await health.close();
  }
});

hints('the end of the output makes the health wait ask at once whether the sandbox died', async () => {
  const health = await healthServer();
  try {
    let ended!: () => void;
    const gone = new Promise<void>((r) => (ended = r));
    let asked = 0;
    const waiting = waitHealthy({
      host: '127.0.0.1',
      port: health.port,
      timeoutMs: 10_000,
      signal: AbortSignal.timeout(10_000),
      hintedPollMs: 60_000,
      whyDead: async () => (++asked, 'the runtime exited with code 7 before answering /health'),
      hints: { listening: never(), ended: gone },
    });
    await new Promise((r) => setTimeout(r, 30));
    ended();
    await rejects(waiting, /exited with code 7/);
    assert.is(asked, 1);
  } finally {
    await health.close();
  }
});

if (docker) hints.run();

// ---------------------------------------------------------------- through the deployment
const dying = suite('docker: a runtime that dies before listening');
const BUNDLE = `agentix-test-start-hints-${RUN}:1`;
let fixture: FixtureCopy | undefined;
let imageId: string | undefined;

dying.before(async () => {
  fixture = copyHelloFixture();
  imageId = (await buildBundle({ projectDir: fixture.dir, tag: BUNDLE, generate: false })).imageId;
});

dying.after(async () => {
  if (imageId) await removeBundle(docker!, imageId);
  for (const c of await containersWith(docker!, `${LABEL}=${RUN}`)) await docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  fixture?.remove();
});

// The fallback liveness check comes every 20 polls of 250 ms (5 s): within a startup time shorter than
// that, only the end of the runtime's output can tell the deployment it died, not that it was slow.
dying('is reported with its exit code and its output, and removed, before a 4.5 s startup time runs out', async () => {
  const image = await taskImage(docker!, 'busybox');
  const err = (await new DockerDeployment()
    .create({ image, bundle: BUNDLE, labels: { [LABEL]: RUN }, env: { AGENTIX_MAX_PAYLOAD: 'lots' }, startupTimeoutMs: 4_500 })
    .catch((e) => e)) as Error;
  assert.instance(err, Error);
  assert.match(err.message, /the runtime exited with code 1 before answering \/health/);
  assert.match(err.message, /AGENTIX_MAX_PAYLOAD must be an integer/);
  assert.is((await containersWith(docker!, `${LABEL}=${RUN}`)).length, 0, 'the container is removed');
});

if (docker) dying.run();
