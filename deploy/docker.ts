/**
 * The Docker deployment: runs a bundle image (`agentix build`) inside any task
 * image. The bundle's /nix lives in one *carrier* container per bundle image
 * (created, never started, reused across sandboxes); each sandbox is a task
 * container that mounts it with `VolumesFrom: [carrier:ro]` and starts the
 * bundled node + runtime server. Everything it creates carries `agentix.*`
 * labels so `agentix gc` can find what a crashed host left behind.
 *
 * Configuration (environment, read in the constructor):
 *   DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH   the engine (dockerode's defaults: /var/run/docker.sock)
 *   AGENTIX_DOCKER_NETWORK   `bridge` (default: port published on 127.0.0.1) or `host`
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import Docker from 'dockerode';
import { APP_RUNTIME_DIR, BUNDLE_LABEL, ENTRYPOINT, RUNTIME_BIN } from '../bundle/layout.js';
import type { Deployment, Sandbox, SandboxConfig, SandboxInfo, SandboxState } from './types.js';

/** Labels on what this deployment creates (and what `agentix gc` looks for). */
export const LABELS = {
  sandbox: 'agentix.sandbox',
  carrier: 'agentix.carrier',
  bundle: 'agentix.bundle',
  bundleId: 'agentix.bundle-id',
  ownerPid: 'agentix.owner-pid',
  ownerHost: 'agentix.owner-host',
  image: 'agentix.image',
  port: 'agentix.port',
  /** random per create() call: finds a container the engine made although its answer was lost */
  createId: 'agentix.create-id',
} as const;

/** Bundle image label holding extra environment its tools need (JSON object), e.g. GIT_EXEC_PATH. */
export const BUNDLE_ENV_LABEL = 'agentix.bundle-env';

const CONTAINER_PORT = 8000;
const DEFAULT_STARTUP_MS = 30_000;
const HEALTH_POLL_MS = 15;
const HEALTH_REQUEST_MS = 1_000;
const LOG_TAIL_LINES = 40;
/** Bounds for engine calls that have no startup budget to count against (dockerode itself waits for ever). */
const LOG_READ_MS = 5_000;
const ENGINE_CALL_MS = 60_000;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type NetworkMode = 'bridge' | 'host';

/**
 * A dockerode client for the engine the environment names, checked cheaply
 * and synchronously: with DOCKER_HOST unset (or unix://) the socket must
 * exist. Whether the engine answers is checked at first use (`pingEngine`).
 */
export function dockerFromEnv(): Docker {
  const host = process.env.DOCKER_HOST;
  const socket = !host ? '/var/run/docker.sock' : host.startsWith('unix://') ? host.slice(7) || '/var/run/docker.sock' : undefined;
  if (socket !== undefined && !existsSync(socket))
    throw new Error(
      `no Docker engine: ${socket} does not exist${host ? ` (DOCKER_HOST=${host})` : ''}. ` +
        'Start dockerd (on CI machines: bash .ci/docker.sh) or point DOCKER_HOST at a running engine.',
    );
  if (host && !/^(unix|tcp|npipe|ssh|http|https):\/\//.test(host))
    throw new Error(`DOCKER_HOST=${host} is not understood: use unix:///path/to/docker.sock or tcp://HOST:PORT`);
  try {
    return new Docker();
  } catch (err) {
    throw new Error(`cannot configure the Docker client from DOCKER_HOST=${host ?? ''}: ${(err as Error).message}`);
  }
}

/** Fails with an actionable message when the engine does not answer. */
export async function pingEngine(docker: Docker, where = engineAddress()): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`the Docker engine at ${where} does not answer (${(err as Error).message}). Is dockerd running? (on CI machines: bash .ci/docker.sh)`);
  }
}

/** The engine the environment names, for messages. */
export function engineAddress(): string {
  return process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

/** HTTP status of a dockerode error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode?: number }).statusCode : undefined;
}

/** The deterministic carrier name for a bundle image: parallel creators collide on it and reuse the winner. */
export function carrierName(imageId: string): string {
  return `agentix-carrier-${imageId.replace(/^sha256:/, '').slice(0, 20)}`;
}

interface BundleImage {
  id: string;
  os: string;
  architecture: string;
  env: Record<string, string>;
}

export class DockerDeployment implements Deployment {
  private readonly docker: Docker;
  private readonly network: NetworkMode;
  private readonly engine = engineAddress();
  private ping: Promise<void> | undefined;
  /** bundle image ID → carrier container name, one creation in flight per bundle in this process */
  private readonly carriers = new Map<string, Promise<string>>();
  private readonly taskPaths = new Map<string, Promise<string>>();
  /** what this instance created, so `get` can say `deleted` after `delete` */
  private readonly known = new Map<string, SandboxInfo>();

  constructor() {
    this.docker = dockerFromEnv();
    const net = process.env.AGENTIX_DOCKER_NETWORK ?? 'bridge';
    if (net !== 'bridge' && net !== 'host') throw new Error(`AGENTIX_DOCKER_NETWORK must be "bridge" or "host", got ${JSON.stringify(net)}`);
    this.network = net;
  }

  async create(config: SandboxConfig): Promise<Sandbox> {
    checkConfig(config);
    await (this.ping ??= pingEngine(this.docker, this.engine).catch((err) => {
      this.ping = undefined; // the next create asks again
      throw err;
    }));
    const bundle = await this.inspectBundle(config.bundle, config.platform);
    const [carrier, taskPath] = await Promise.all([this.carrierFor(bundle, config.bundle), this.taskPath(config.image, config.platform)]);

    const token = randomBytes(24).toString('base64url');
    const hostPort = this.network === 'host' ? await freeLoopbackPort() : undefined;
    const bindPort = hostPort ?? CONTAINER_PORT;
    const env: Record<string, string> = {
      ...config.env,
      ...bundle.env,
      // the task image's own programs first; the bundle's tools fill the gaps
      PATH: config.env?.PATH ?? `${taskPath}:${RUNTIME_BIN}`,
      AGENTIX_TOKEN: token,
      AGENTIX_BIND_PORT: String(bindPort),
      AGENTIX_BIND_HOST: this.network === 'host' ? '127.0.0.1' : '0.0.0.0',
      // the bundled server is one file, so it cannot find the worker next to its own module name
      AGENTIX_WORKER_ENTRY: `${APP_RUNTIME_DIR}/worker-main.js`,
    };
    const labels: Record<string, string> = {
      ...config.labels,
      [LABELS.sandbox]: '1',
      [LABELS.bundle]: config.bundle,
      [LABELS.bundleId]: bundle.id,
      [LABELS.carrier]: carrier,
      [LABELS.image]: config.image,
      [LABELS.ownerPid]: String(process.pid),
      [LABELS.ownerHost]: hostname(),
      [LABELS.createId]: randomBytes(12).toString('hex'),
    };
    const portKey = `${CONTAINER_PORT}/tcp`;
    const hostConfig: Docker.HostConfig = {
      VolumesFrom: [`${carrier}:ro`],
      // docker-init as PID 1 reaps the orphans that killed commands leave behind (node as PID 1 would not),
      // and it is bind-mounted by the engine, so it works on any task image.
      Init: true,
      NetworkMode: this.network === 'host' ? 'host' : undefined,
      PortBindings: this.network === 'host' ? undefined : { [portKey]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
      NanoCpus: config.cpus !== undefined ? Math.round(config.cpus * 1e9) : undefined,
      Memory: config.memoryBytes,
    };
    const body: Docker.ContainerCreateOptions = {
      Image: config.image,
      Entrypoint: [...ENTRYPOINT],
      Cmd: [],
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: config.workdir,
      User: config.user,
      Labels: labels,
      ExposedPorts: this.network === 'host' ? undefined : { [portKey]: {} },
      HostConfig: hostConfig,
    };
    const createOnce = () =>
      this.docker.createContainer({ _query: config.platform ? { platform: config.platform } : {}, _body: body, ...bounded() } as unknown as Docker.ContainerCreateOptions);
    let container: Docker.Container;
    try {
      container = await createOnce().catch(async (err) => {
        // A failure here may be a missing carrier: it can vanish under a
        // live deployment (`agentix gc --all`, another host's gc): this instance's cache
        // would then fail every later create, so make the carrier again and retry once.
        // (engines answer 400 or 404 for a missing VolumesFrom container, so ask the engine instead)
        if (!(await this.carrierGone(carrier))) throw err;
        this.carriers.delete(bundle.id);
        const again = await this.carrierFor(bundle, config.bundle);
        hostConfig.VolumesFrom = [`${again}:ro`];
        labels[LABELS.carrier] = again;
        return createOnce();
      });
    } catch (err) {
      // The engine may have made the container although its answer never arrived (connection
      // reset, dockerd restarting): `agentix gc` would keep it while this process lives, so
      // remove it now, found by this call's own label.
      await this.removeHalfCreated(labels[LABELS.createId]);
      // name the image only when it is the image that is missing (a vanished carrier answers 400 or 404 too)
      if (statusOf(err) === 404 && /image/i.test(dockerMessage(err))) throw new Error(`task image ${config.image} not found: pull or import it first (docker pull / docker import)`);
      throw new Error(`cannot create the sandbox container from ${config.image}: ${dockerMessage(err)}`);
    }
    const started = Date.now();
    const timeoutMs = config.startupTimeoutMs ?? DEFAULT_STARTUP_MS;
    // The engine's own calls count against the startup time too: dockerode has no timeout,
    // so a dockerd that never answers `start` would otherwise hang create() for ever.
    const startup = AbortSignal.timeout(timeoutMs);
    try {
      await container.start({ abortSignal: startup });
      let port = hostPort;
      if (port === undefined) {
        const info = await container.inspect({ abortSignal: startup });
        const bound = info.NetworkSettings.Ports?.[portKey]?.[0]?.HostPort;
        if (!bound) throw new Error('the engine did not publish the runtime port');
        port = Number(bound);
      }
      await waitHealthy(container, port, timeoutMs, startup);
      const runtimeUrl = `ws://127.0.0.1:${port}`;
      this.known.set(container.id, { id: container.id, state: 'running', created: new Date(started), image: config.image, bundle: config.bundle, runtimeUrl });
      return { id: container.id, runtimeUrl, token };
    } catch (err) {
      const msg =
        startup.aborted && !/within \d+ ms/.test(String(err))
          ? `the runtime did not answer /health within ${timeoutMs} ms: the engine had not even started the container (or published its port) by then`
          : err instanceof Error
            ? err.message
            : String(err);
      const logs = await lastLogLines(container);
      // bounded as well, and said when it fails: a silent failure here is a leaked container
      const removal = await container.remove({ force: true, v: true, ...bounded() }).then(
        () => '',
        (e) => (statusOf(e) === 404 || statusOf(e) === 409 ? '' : `\nremoving container ${container.id} failed too (${dockerMessage(e)}): remove it with docker rm -f ${container.id}`),
      );
      throw new Error(`sandbox from ${config.image} with bundle ${config.bundle} failed to start: ${msg}${logs ? `\n--- last container output ---\n${logs}` : ' (the container printed nothing)'}${removal}`);
    }
  }

  async delete(id: string): Promise<void> {
    checkId(id);
    const container = this.docker.getContainer(id);
    try {
      const info = await container.inspect(bounded());
      if (info.Config.Labels?.[LABELS.sandbox] !== '1') throw new Error(`container ${id} is not an agentix sandbox; not deleting it`);
      await container.remove({ force: true, v: true, ...bounded() });
    } catch (err) {
      // already gone, or its removal is under way: deleting is idempotent
      if (isTimeout(err)) throw new Error(`cannot delete sandbox ${id}: the Docker engine did not answer within ${ENGINE_CALL_MS / 1000} s`);
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err instanceof Error && statusOf(err) === undefined ? err : new Error(`cannot delete sandbox ${id}: ${dockerMessage(err)}`);
    }
    const known = this.known.get(id);
    if (known) known.state = 'deleted';
  }

  async get(id: string): Promise<SandboxInfo> {
    checkId(id);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect(bounded());
    } catch (err) {
      if (isTimeout(err)) throw new Error(`cannot inspect sandbox ${id}: the Docker engine did not answer within ${ENGINE_CALL_MS / 1000} s`);
      const known = this.known.get(id);
      if (statusOf(err) === 404 && known) return { ...known, state: 'deleted' };
      if (statusOf(err) === 404) throw new Error(`no sandbox ${id}`);
      throw new Error(`cannot inspect sandbox ${id}: ${dockerMessage(err)}`);
    }
    const labels = info.Config.Labels ?? {};
    if (labels[LABELS.sandbox] !== '1') throw new Error(`container ${id} is not an agentix sandbox`);
    const bound = info.NetworkSettings.Ports?.[`${CONTAINER_PORT}/tcp`]?.[0]?.HostPort;
    const port = bound ?? (info.HostConfig.NetworkMode === 'host' ? envOf(info.Config.Env, 'AGENTIX_BIND_PORT') : undefined);
    return {
      id: info.Id,
      state: stateOf(info.State),
      created: new Date(info.Created),
      image: labels[LABELS.image] ?? info.Config.Image,
      bundle: labels[LABELS.bundle] ?? '',
      runtimeUrl: port && info.State.Running ? `ws://127.0.0.1:${port}` : undefined,
    };
  }

  private async inspectBundle(bundle: string, platform: string | undefined): Promise<BundleImage> {
    let info: Docker.ImageInspectInfo;
    try {
      info = await this.docker.getImage(bundle).inspect();
    } catch (err) {
      if (statusOf(err) === 404) throw new Error(`bundle image ${bundle} not found: build it with \`agentix build -t ${bundle}\``);
      throw new Error(`cannot inspect bundle image ${bundle}: ${dockerMessage(err)}`);
    }
    const labels = info.Config?.Labels ?? {};
    if (!labels[BUNDLE_LABEL]) throw new Error(`image ${bundle} is not an agentix bundle (no ${BUNDLE_LABEL} label): build it with \`agentix build\``);
    if (platform) {
      const [os, arch] = platform.split('/');
      if (os !== info.Os || (arch && arch !== info.Architecture))
        throw new Error(`bundle ${bundle} is ${info.Os}/${info.Architecture} but the sandbox asks for platform ${platform}`);
    }
    let env: Record<string, string> = {};
    if (labels[BUNDLE_ENV_LABEL]) {
      try {
        env = JSON.parse(labels[BUNDLE_ENV_LABEL]) as Record<string, string>;
      } catch {
        throw new Error(`bundle ${bundle} has an unreadable ${BUNDLE_ENV_LABEL} label`);
      }
    }
    return { id: info.Id, os: info.Os, architecture: info.Architecture, env };
  }

  /** Finds or creates the carrier of a bundle image; races (here or in another process) end with everyone using one. */
  private carrierFor(bundle: BundleImage, tag: string): Promise<string> {
    let pending = this.carriers.get(bundle.id);
    if (!pending) {
      pending = ensureCarrier(this.docker, bundle.id, tag);
      this.carriers.set(bundle.id, pending);
      pending.catch(() => this.carriers.delete(bundle.id));
    }
    return pending;
  }

  /** Best effort: the engine may be gone too, and then `agentix gc` is the way out. */
  private async removeHalfCreated(createId: string): Promise<void> {
    const found = await this.docker
      .listContainers({ all: true, filters: { label: [`${LABELS.createId}=${createId}`] }, ...bounded() } as object)
      .catch(() => [] as Docker.ContainerInfo[]);
    for (const c of found) await removeQuietly(this.docker, c.Id).catch(() => undefined);
  }

  /** True when the named carrier no longer exists (engine errors other than 404 count as "not gone"). */
  private carrierGone(name: string): Promise<boolean> {
    return this.docker
      .getContainer(name)
      .inspect()
      .then(
        () => false,
        (err) => statusOf(err) === 404,
      );
  }

  /** PATH of the task image (cached per image), so the sandbox keeps it and appends the bundle's tools. */
  private taskPath(image: string, platform: string | undefined): Promise<string> {
    let pending = this.taskPaths.get(image);
    if (!pending) {
      pending = this.docker
        .getImage(image)
        .inspect()
        .then(
          (info) => envOf(info.Config?.Env ?? [], 'PATH') ?? DEFAULT_PATH,
          (err) => {
            if (statusOf(err) === 404) throw new Error(`task image ${image} not found: pull or import it first (docker pull / docker import)${platform ? ` for ${platform}` : ''}`);
            throw new Error(`cannot inspect task image ${image}: ${dockerMessage(err)}`);
          },
        );
      this.taskPaths.set(image, pending);
      pending.catch(() => this.taskPaths.delete(image));
    }
    return pending;
  }
}

export async function ensureCarrier(docker: Docker, imageId: string, tag: string): Promise<string> {
  const name = carrierName(imageId);
  const existing = await docker
    .getContainer(name)
    .inspect()
    .catch((err) => (statusOf(err) === 404 ? undefined : Promise.reject(err)));
  if (existing) {
    if (existing.Image === imageId) return name;
    throw new Error(`container ${name} exists but is not the carrier of ${imageId}; remove it (agentix gc --all)`);
  }
  try {
    await docker.createContainer({
      _query: { name },
      _body: {
        Image: imageId,
        // never started; the engine only insists on a command
        Cmd: [ENTRYPOINT[0], '--version'],
        Labels: { [LABELS.carrier]: '1', [LABELS.bundle]: tag, [LABELS.bundleId]: imageId },
      },
    } as unknown as Docker.ContainerCreateOptions);
  } catch (err) {
    if (statusOf(err) !== 409) throw new Error(`cannot create the carrier for bundle ${tag}: ${dockerMessage(err)}`);
    // 409: another creator won the race; its container is ours too
  }
  return name;
}

export interface Removed {
  kind: 'sandbox' | 'carrier' | 'image';
  id: string;
  name: string;
  bundle: string;
}

/**
 * Removes agentix sandboxes (all of them, or those `keep` does not protect)
 * with their anonymous volumes, then, with `carriers: true`, the carriers no
 * remaining sandbox uses (minus those `keepCarrier` protects).
 */
export async function collectGarbage(
  docker: Docker,
  opts: {
    carriers: boolean;
    /** true: leave this sandbox alone (e.g. its owner still runs) */
    keep?: (labels: Record<string, string>) => boolean;
    /** true: leave this unused carrier alone (e.g. its bundle image still exists) */
    keepCarrier?: (bundleId: string) => boolean | Promise<boolean>;
    dryRun?: boolean;
  },
): Promise<Removed[]> {
  const removed: Removed[] = [];
  const sandboxes = await docker.listContainers({ all: true, filters: { label: [`${LABELS.sandbox}=1`] } });
  const usedCarriers = new Set<string>();
  for (const c of sandboxes) {
    const labels = c.Labels ?? {};
    if (opts.keep?.(labels)) {
      if (labels[LABELS.carrier]) usedCarriers.add(labels[LABELS.carrier]);
      continue;
    }
    if (!opts.dryRun) await removeQuietly(docker, c.Id);
    removed.push({ kind: 'sandbox', id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), bundle: labels[LABELS.bundle] ?? '' });
  }
  if (opts.carriers) {
    const carriers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.carrier}=1`] } });
    for (const c of carriers) {
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      if (usedCarriers.has(name)) continue;
      if (opts.keepCarrier && (await opts.keepCarrier(c.Labels?.[LABELS.bundleId] ?? ''))) continue;
      if (!opts.dryRun) await removeQuietly(docker, c.Id);
      removed.push({ kind: 'carrier', id: c.Id, name, bundle: c.Labels?.[LABELS.bundle] ?? '' });
      // a rebuild moved the tag away: the carrier was the image's last user, so the image
      // would stay as a dangling <none> (with the carrier gone, nothing else removes it)
      const bundleId = c.Labels?.[LABELS.bundleId];
      if (bundleId && (opts.dryRun ? await isUntaggedBundle(docker, bundleId) : await removeUntaggedBundle(docker, bundleId)))
        removed.push({ kind: 'image', id: bundleId, name: bundleId.replace(/^sha256:/, '').slice(0, 12), bundle: c.Labels?.[LABELS.bundle] ?? '' });
    }
  }
  return removed;
}

/** True when `imageId` is an agentix bundle image no tag names any more (what a rebuild leaves). */
export async function isUntaggedBundle(docker: Docker, imageId: string): Promise<boolean> {
  let info: Docker.ImageInspectInfo;
  try {
    info = await docker.getImage(imageId).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw new Error(`cannot inspect image ${imageId}: ${dockerMessage(err)}`);
  }
  const tags = (info.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
  return tags.length === 0 && !!info.Config?.Labels?.[BUNDLE_LABEL];
}

/**
 * Removes an untagged bundle image, never by force: while a container (its
 * carrier) still uses it the engine refuses (409) and it stays. True when removed.
 */
export async function removeUntaggedBundle(docker: Docker, imageId: string): Promise<boolean> {
  if (!(await isUntaggedBundle(docker, imageId))) return false;
  try {
    await docker.getImage(imageId).remove();
    return true;
  } catch (err) {
    if (statusOf(err) === 404 || statusOf(err) === 409) return false;
    throw new Error(`cannot remove the untagged bundle image ${imageId}: ${dockerMessage(err)}`);
  }
}

/** Options that bound one engine call: dockerode itself would wait for ever on an engine that never answers. */
function bounded(): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(ENGINE_CALL_MS) };
}

const isTimeout = (err: unknown) => err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');

async function removeQuietly(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true, ...bounded() });
  } catch (err) {
    if (statusOf(err) !== 404 && statusOf(err) !== 409) throw new Error(`cannot remove container ${id}: ${dockerMessage(err)}`);
  }
}

/**
 * A sandbox id must be a container id (or name): anything else is refused
 * before it reaches the engine. An empty id or one with `/`, `?` or spaces
 * makes the engine answer 301, and dockerode follows that redirect to a host
 * named after the path ("containers", "images") with no error listener: an
 * uncaught exception that killed the whole host process.
 */
function checkId(id: string): void {
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id))
    throw new Error(`invalid sandbox id ${JSON.stringify(id)}: expected the id create() returned (hex digits)`);
}

function checkConfig(config: SandboxConfig): void {
  const bad = (what: string): never => {
    throw new Error(`invalid SandboxConfig: ${what}`);
  };
  if (typeof config?.image !== 'string' || !config.image) bad('`image` (the task image) is required');
  if (typeof config.bundle !== 'string' || !config.bundle) bad('`bundle` (an image from `agentix build`) is required');
  if (config.cpus !== undefined && !(config.cpus > 0)) bad(`\`cpus\` must be a positive number, got ${config.cpus}`);
  if (config.memoryBytes !== undefined && !(Number.isInteger(config.memoryBytes) && config.memoryBytes >= 6 * 1024 * 1024))
    bad(`\`memoryBytes\` must be a whole number of bytes, at least 6 MiB (Docker's minimum), got ${config.memoryBytes}`);
  if (config.startupTimeoutMs !== undefined && !(config.startupTimeoutMs > 0)) bad(`\`startupTimeoutMs\` must be positive, got ${config.startupTimeoutMs}`);
  if (config.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(config.platform)) bad(`\`platform\` must look like linux/amd64, got ${JSON.stringify(config.platform)}`);
  for (const [k, v] of Object.entries(config.env ?? {}))
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || typeof v !== 'string') bad(`env ${JSON.stringify(k)} must be a NAME with a string value`);
  for (const k of Object.keys(config.labels ?? {})) if (k.startsWith('agentix.')) bad(`label ${k}: the agentix.* labels are reserved`);
}

/** Polls /health every few ms until it answers 200, the container stops, or the time is up. */
async function waitHealthy(container: Docker.Container, port: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  for (;;) {
    if (await healthOk(port)) return;
    // a container that died will never answer: look every ~20 polls instead of waiting out the timeout
    if (++polls % 20 === 0 && !signal.aborted) {
      const info = await container.inspect({ abortSignal: signal }).catch((err) => {
        if (signal.aborted) throw new Error(`the runtime did not answer /health within ${timeoutMs} ms`);
        throw err;
      });
      if (!info.State.Running) throw new Error(`the runtime exited with code ${info.State.ExitCode} before answering /health`);
    }
    if (Date.now() >= deadline) throw new Error(`the runtime did not answer /health within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, HEALTH_POLL_MS));
  }
}

function healthOk(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', method: 'GET', timeout: HEALTH_REQUEST_MS, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function lastLogLines(container: Docker.Container): Promise<string> {
  try {
    const raw = (await container.logs({ stdout: true, stderr: true, tail: LOG_TAIL_LINES, follow: false, abortSignal: AbortSignal.timeout(LOG_READ_MS) } as object)) as unknown as Buffer;
    return demuxLogs(raw).trimEnd();
  } catch {
    return '';
  }
}

/** Docker's multiplexed log stream: 8-byte header (stream, 0, 0, 0, big-endian size) per chunk. */
export function demuxLogs(raw: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= raw.length && raw[i] <= 2 && raw[i + 1] === 0 && raw[i + 2] === 0 && raw[i + 3] === 0) {
    const size = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return i === 0 ? raw.toString('utf8') : out;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function stateOf(state: Docker.ContainerInspectInfo['State']): SandboxState {
  if (state.Running) return 'running';
  if (state.Status === 'created') return 'creating';
  if (state.Status === 'exited' || state.Status === 'dead') return 'exited';
  if (state.Status === 'removing') return 'deleted';
  return 'unknown';
}

function envOf(env: string[] | undefined, name: string): string | undefined {
  const hit = env?.find((e) => e.startsWith(`${name}=`));
  return hit?.slice(name.length + 1);
}

/** The engine's own message (dockerode wraps it as `(HTTP code 404) no such container - No such image: …`). */
export function dockerMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return e?.json?.message ?? e?.message ?? String(err);
}
