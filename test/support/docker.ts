/**
 * Test helpers for anything that needs a real Docker engine:
 *
 *   const docker = await engineOrSkip('bundle');   // undefined: no engine, not CI → skip (printed)
 *   const image = await taskImage(docker, 'busybox'); // agentix-test-busybox:1, made once with `docker import`
 *
 * No registry is reachable, so task images are built here from the host:
 * `busybox` is Debian's busybox-static with its applet links, `empty` has
 * nothing but /tmp (no libc, no shell: a FROM scratch stand-in). Both carry
 * the label agentix.test-image=1.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { dockerFromEnv, statusOf, dockerMessage, LABELS } from '../../deploy/docker.js';

export const TEST_IMAGES = {
  busybox: 'agentix-test-busybox:1',
  empty: 'agentix-test-empty:1',
} as const;
export type TestImage = keyof typeof TEST_IMAGES;

const BUSYBOX = '/bin/busybox';

/** Why there is no usable engine, or undefined when there is one. */
export async function engineProblem(): Promise<string | undefined> {
  let docker: Docker;
  try {
    docker = dockerFromEnv();
  } catch (err) {
    return (err as Error).message;
  }
  try {
    await docker.ping();
    return undefined;
  } catch (err) {
    return `the Docker engine does not answer: ${(err as Error).message}`;
  }
}

/**
 * The engine, or undefined after printing why these tests are skipped. Under
 * CI (CI=true) a missing engine is an error: CI must run them.
 */
export async function engineOrSkip(area: string): Promise<Docker | undefined> {
  const problem = await engineProblem();
  if (!problem) return dockerFromEnv();
  if (process.env.CI === 'true') throw new Error(`${area}: a Docker engine is required under CI: ${problem}`);
  process.stdout.write(`\nSKIPPING ${area} tests: ${problem}\n(run bash .ci/docker.sh to get an engine)\n\n`);
  return undefined;
}

/** The tag of a task image, importing it first if the engine does not have it. */
export async function taskImage(docker: Docker, kind: TestImage): Promise<string> {
  const ref = TEST_IMAGES[kind];
  try {
    await docker.getImage(ref).inspect();
    return ref;
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  const [repo, tag] = ref.split(':');
  const rootfs = kind === 'busybox' ? busyboxRoot() : emptyRoot();
  const changes = ['LABEL agentix.test-image=1', ...(kind === 'busybox' ? ['ENV PATH=/bin:/sbin', 'CMD ["/bin/sh"]'] : [])];
  let response: NodeJS.ReadableStream;
  try {
    response = await docker.importImage(rootfs, { repo, tag, changes } as object);
  } catch (err) {
    throw new Error(`docker import of ${ref} failed: ${dockerMessage(err)}`);
  }
  let text = '';
  for await (const chunk of response as AsyncIterable<Buffer>) text += chunk.toString();
  if (/"error"/.test(text)) throw new Error(`docker import of ${ref} failed: ${text.trim()}`);
  return ref;
}

function busyboxRoot(): Readable {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install -y busybox-static (or run bash .ci/docker.sh)`);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  const body = readFileSync(BUSYBOX);
  return packRoot((pack, done) => {
    const dir = (name: string, mode = 0o755) => pack.entry({ name, type: 'directory', mode });
    for (const d of ['bin/', 'sbin/', 'etc/', 'root/', 'home/']) dir(d);
    dir('tmp/', 0o1777);
    pack.entry({ name: 'bin/busybox', mode: 0o755, size: body.length }, body);
    for (const a of applets.sort()) pack.entry({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox', mode: 0o777 });
    pack.entry({ name: 'etc/passwd', mode: 0o644 }, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
    pack.entry({ name: 'etc/group', mode: 0o644 }, 'root:x:0:\nnogroup:x:65534:\n');
    done();
  });
}

function emptyRoot(): Readable {
  return packRoot((pack, done) => {
    pack.entry({ name: 'tmp/', type: 'directory', mode: 0o1777 });
    done();
  });
}

function packRoot(fill: (pack: tar.Pack, done: () => void) => void): Readable {
  const pack = tar.pack();
  fill(pack, () => pack.finalize());
  return pack as unknown as Readable;
}

/** Containers (sandboxes or carriers) that still carry `label=value`. */
export async function containersWith(docker: Docker, label: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [label] } });
}

/**
 * Removes what a test run made for one bundle image: its sandboxes, its
 * carrier with the carrier's volume, and the image itself. Returns the
 * volume names that belonged to the carrier, so a test can check they are gone.
 */
export async function removeBundle(docker: Docker, imageId: string): Promise<string[]> {
  const volumes: string[] = [];
  const mine = await docker.listContainers({ all: true, filters: { label: [`${LABELS.bundleId}=${imageId}`] } });
  for (const c of mine) {
    const info = await docker.getContainer(c.Id).inspect().catch(() => undefined);
    for (const m of info?.Mounts ?? []) if (m.Type === 'volume' && m.Name && c.Labels?.[LABELS.carrier] === '1') volumes.push(m.Name);
    await docker.getContainer(c.Id).remove({ force: true, v: true }).catch((err) => {
      if (statusOf(err) !== 404) throw err;
    });
  }
  await docker.getImage(imageId).remove({ force: true }).catch((err) => {
    if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
  });
  return volumes;
}

export async function volumeExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw err;
  }
}

export interface EngineProxy {
  /** The proxy's Unix socket: `DOCKER_HOST=unix://<path>` or `new Docker({ socketPath })`. */
  path: string;
  /** Cuts every connection, stops listening and removes the socket's directory. */
  close(): Promise<void>;
}

/**
 * A Unix socket in front of the engine at `engineSocket`, for tests that play
 * an engine misbehaving. For each connection `wire(client, upstream)` decides
 * what passes each way (it attaches the 'data' listeners); the proxy pairs
 * the two sockets' teardown and forgets them when they close.
 */
export async function engineProxy(engineSocket: string, wire: (client: Socket, upstream: Socket) => void): Promise<EngineProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-engine-proxy-'));
  const path = join(dir, 'docker.sock');
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(engineSocket);
    sockets.add(client).add(upstream);
    wire(client, upstream);
    const end = () => (client.destroy(), upstream.destroy());
    for (const s of [client, upstream]) s.on('error', end).on('close', () => (end(), sockets.delete(s)));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  return {
    path,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
