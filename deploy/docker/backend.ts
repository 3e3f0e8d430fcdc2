/**
 * The Docker deployment: runs a bundle image (`agentix build`) inside any task
 * image. The bundle's /nix lives in one *carrier* container per bundle image
 * (carrier.ts); each sandbox is a task container that mounts it with
 * `VolumesFrom: [carrier:ro]` and starts the bundled node + runtime server.
 * Everything it creates carries the shared labels so `agentix gc` can find
 * what a crashed host left behind.
 *
 * Configuration (environment, read in the constructor):
 *   DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH   the engine (dockerode's defaults: /var/run/docker.sock)
 *   AGENTIX_DOCKER_NETWORK   `bridge` (default: the container's own network, with egress) or `host`
 *   AGENTIX_DOCKER_REACH     how the host reaches a bridge sandbox's runtime: `socket` (a Unix socket in a
 *                            bind-mounted host directory; the default with an engine on this host) or `port`
 *                            (port 8000 published on 127.0.0.1; the default, and the only way, for a remote
 *                            engine). The constructor's `runtimeReach` option wins over it.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import type Docker from 'dockerode';
import { bounded, dockerFromEnv, dockerMessage, engineAddress, ENGINE_CALL_MS, isTimeout, pingEngine, statusOf } from '../../bundle/docker-engine.js';
import { BUNDLE_LABEL, ENTRYPOINT, SANDBOX_PORT } from '../../bundle/layout.js';
import { checkConfig, DEFAULT_STARTUP_MS } from '../shared/config.js';
import { invalidId, startupFailure } from '../shared/errors.js';
import { notHealthyWithin, waitHealthy } from '../shared/health.js';
import { LABELS, ownerLabels } from '../shared/labels.js';
import { lifetimeTimer, type LifetimeTimer } from '../shared/lifetime-timer.js';
import { SandboxMemo } from '../shared/memo.js';
import { runtimeEnv } from '../shared/runtime-env.js';
import { sandboxToken } from '../shared/token.js';
import { AgentixError } from '../../runtime/wire/errors.js';
import type { Deployment, DockerDeploymentOptions, Sandbox, SandboxConfig, SandboxInfo, SandboxState } from '../types.js';
import { carrierGone, ensureCarrier } from './carrier.js';
import { removeContainer } from './gc.js';
import { lastLogLines } from './logs.js';
import { endpoints, needsInspection, planNetwork, removeSocketDir, socketPathFits, socketUrl, type RuntimeReach } from './network.js';
import { commitSnapshot, deleteSnapshotImage } from './snapshot.js';
import { followStart, type FollowedStart } from './ready.js';

interface BundleImage {
  id: string;
  os: string;
  architecture: string;
}

export class DockerDeployment implements Deployment {
  private readonly docker: Docker;
  /** The network of a sandbox whose config does not name one (AGENTIX_DOCKER_NETWORK). */
  private readonly network: 'bridge' | 'host';
  /** How a bridge sandbox's runtime is reached (runtimeReach, AGENTIX_DOCKER_REACH). */
  readonly runtimeReach: RuntimeReach;
  private readonly engine = engineAddress();
  private ping: Promise<void> | undefined;
  /** bundle image ID → carrier container name, one creation in flight per bundle in this process */
  private readonly carriers = new Map<string, Promise<string>>();
  private readonly memo = new SandboxMemo();
  /** sandbox id → the timer that deletes it at the end of its lifetime */
  private readonly lifetimes = new Map<string, LifetimeTimer>();
  /**
   * sandbox id → its socket directory (network: 'none', or reached by socket): delete() removes it even when the
   * container (and so its label) is already gone, e.g. after a `docker rm -f`.
   */
  private readonly socketDirs = new Map<string, string>();

  constructor(opts: DockerDeploymentOptions = {}) {
    this.docker = dockerFromEnv();
    const net = process.env.AGENTIX_DOCKER_NETWORK ?? 'bridge';
    if (net !== 'bridge' && net !== 'host') throw new Error(`AGENTIX_DOCKER_NETWORK must be "bridge" or "host", got ${JSON.stringify(net)}`);
    this.network = net;
    this.runtimeReach = chooseReach(opts, this.engine);
  }

  async create(config: SandboxConfig): Promise<Sandbox> {
    checkConfig(config);
    // the socket directory is bind-mounted by its path on this host: a remote engine would mount its own
    if (config.network === 'none' && !this.engine.startsWith('unix://'))
      throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig: \`network: "none"\` needs a Docker engine on this host (DOCKER_HOST=${this.engine}): the runtime's socket directory is bind-mounted from here`);
    await (this.ping ??= pingEngine(this.docker, this.engine).catch((err) => {
      this.ping = undefined; // the next create asks again
      throw err;
    }));
    const bundle = await this.inspectBundle(config.bundle, config.platform);
    const carrier = await this.carrierFor(bundle, config.bundle);

    const { token, env: tokenEnv } = sandboxToken();
    const net = await planNetwork(config, this.network, this.runtimeReach);
    const env = { ...runtimeEnv(config, net.bind), ...tokenEnv };
    const labels: Record<string, string> = {
      ...config.labels,
      [LABELS.sandbox]: '1',
      [LABELS.bundle]: config.bundle,
      [LABELS.bundleId]: bundle.id,
      [LABELS.carrier]: carrier,
      [LABELS.image]: config.image,
      ...ownerLabels(),
      [LABELS.createId]: randomBytes(12).toString('hex'),
      // set (maybe blank) whatever the config says: a snapshot image's labels would otherwise be inherited
      [LABELS.expiresAt]: config.lifetimeMs ? String(Date.now() + config.lifetimeMs) : '',
      [LABELS.socketDir]: net.socketDir ?? '',
    };
    const hostConfig: Docker.HostConfig = {
      VolumesFrom: [`${carrier}:ro`],
      // docker-init as PID 1 reaps the orphans that killed commands leave behind (node as PID 1 would not),
      // and it is bind-mounted by the engine, so it works on any task image.
      Init: true,
      ...net.hostConfig,
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
      ExposedPorts: net.exposed,
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
        if (!(await carrierGone(this.docker, carrier))) throw err;
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
      removeSocketDir(net.socketDir);
      // name the image only when it is the image that is missing (a vanished carrier answers 400 or 404 too)
      if (statusOf(err) === 404 && /image/i.test(dockerMessage(err)))
        throw new Error(`task image ${config.image} not found: pull or import it first (docker pull / docker import)${config.platform ? ` for ${config.platform}` : ''}`);
      if (net.mode === 'bridge' && net.socketDir && /bind source path does not exist/i.test(dockerMessage(err)))
        throw new Error(
          `cannot create the sandbox container from ${config.image}: the Docker engine (${this.engine}) cannot see this host's directory ${net.socketDir}, where the runtime's socket would be (an engine in a VM or in another container?): reach sandboxes through a published port instead with AGENTIX_DOCKER_REACH=port (or runtimeReach: 'port') [${dockerMessage(err)}]`,
        );
      throw new Error(`cannot create the sandbox container from ${config.image}: ${dockerMessage(err)}`);
    }
    const started = Date.now();
    const timeoutMs = config.startupTimeoutMs ?? DEFAULT_STARTUP_MS;
    // The engine's own calls count against the startup time too: dockerode has no timeout,
    // so a dockerd that never answers `start` would otherwise hang create() for ever.
    const startup = AbortSignal.timeout(timeoutMs);
    let followed: FollowedStart | undefined;
    try {
      // attached before the start, so the runtime's "listening" line (or its exit) wakes the health wait at once
      followed = await followStart(container, startup);
      await container.start({ abortSignal: startup });
      const reach = endpoints(net, config.ports ?? [], needsInspection(net) ? await container.inspect({ abortSignal: startup }) : undefined);
      await waitHealthy({
        host: '127.0.0.1',
        port: reach.health.port ?? 0,
        socketPath: reach.health.socketPath,
        timeoutMs,
        signal: startup,
        whyDead: async (signal) => {
          const info = await container.inspect({ abortSignal: signal });
          return info.State.Running ? undefined : `the runtime exited with code ${info.State.ExitCode} before answering /health`;
        },
        hints: followed,
      });
      const { runtimeUrl } = reach;
      this.memo.remember({ id: container.id, state: 'running', created: new Date(started), image: config.image, bundle: config.bundle, runtimeUrl });
      if (net.socketDir) this.socketDirs.set(container.id, net.socketDir);
      if (config.lifetimeMs) this.expireAt(container.id, started + config.lifetimeMs);
      return { id: container.id, runtimeUrl, token, ports: reach.ports };
    } catch (err) {
      const why =
        startup.aborted && !String(err).includes(notHealthyWithin(timeoutMs))
          ? `${notHealthyWithin(timeoutMs)}: the engine had not even started the container (or published its port) by then`
          : err instanceof Error
            ? err.message
            : String(err);
      const output = await lastLogLines(container);
      // bounded as well, and said when it fails: a silent failure here is a leaked container
      const leftover = await removeContainer(this.docker, container.id).then(
        () => '',
        (e: Error) => `removing container ${container.id} failed too (${e.message}): remove it with docker rm -f ${container.id}`,
      );
      removeSocketDir(net.socketDir);
      throw startupFailure({ image: config.image, bundle: config.bundle, why, output, leftover });
    } finally {
      followed?.close();
    }
  }

  async delete(id: string): Promise<void> {
    checkId(id);
    this.lifetimes.get(id)?.cancel();
    this.lifetimes.delete(id);
    const container = this.docker.getContainer(id);
    const socketDir = this.socketDirs.get(id);
    try {
      const info = await container.inspect(bounded());
      if (info.Config.Labels?.[LABELS.sandbox] !== '1') throw new Error(`container ${id} is not an agentix sandbox; not deleting it`);
      await container.remove({ force: true, v: true, ...bounded() });
      removeSocketDir(info.Config.Labels?.[LABELS.socketDir]);
    } catch (err) {
      // already gone, or its removal is under way: deleting is idempotent
      if (isTimeout(err)) throw new Error(`cannot delete sandbox ${id}: the Docker engine did not answer within ${ENGINE_CALL_MS / 1000} s`);
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err instanceof Error && statusOf(err) === undefined ? err : new Error(`cannot delete sandbox ${id}: ${dockerMessage(err)}`);
    }
    removeSocketDir(socketDir);
    this.socketDirs.delete(id);
    this.memo.markDeleted(id);
  }

  async get(id: string): Promise<SandboxInfo> {
    checkId(id);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect(bounded());
    } catch (err) {
      if (isTimeout(err)) throw new Error(`cannot inspect sandbox ${id}: the Docker engine did not answer within ${ENGINE_CALL_MS / 1000} s`);
      const gone = statusOf(err) === 404 ? this.memo.gone(id) : undefined;
      if (gone) return gone;
      if (statusOf(err) === 404) throw new Error(`no sandbox ${id}`);
      throw new Error(`cannot inspect sandbox ${id}: ${dockerMessage(err)}`);
    }
    const labels = info.Config.Labels ?? {};
    if (labels[LABELS.sandbox] !== '1') throw new Error(`container ${id} is not an agentix sandbox`);
    const bound = info.NetworkSettings.Ports?.[`${SANDBOX_PORT}/tcp`]?.[0]?.HostPort;
    const port = bound ?? (info.HostConfig.NetworkMode === 'host' ? envOf(info.Config.Env, 'AGENTIX_BIND_PORT') : undefined);
    const socketDir = labels[LABELS.socketDir];
    const url = socketDir ? socketUrl(socketDir) : port ? `ws://127.0.0.1:${port}` : undefined;
    return {
      id: info.Id,
      state: stateOf(info.State),
      created: new Date(info.Created),
      image: labels[LABELS.image] ?? info.Config.Image,
      bundle: labels[LABELS.bundle] ?? '',
      runtimeUrl: info.State.Running ? url : undefined,
    };
  }

  /**
   * Deletes the sandbox at the end of its lifetime while this process lives
   * (the runtime has exited by itself by then; the container would stay).
   * The timer does not keep the process alive: after it, `agentix gc` removes it.
   */
  private expireAt(id: string, at: number): void {
    this.lifetimes.set(id, lifetimeTimer(at, () => void this.delete(id).catch(() => undefined)));
  }

  /** `docker commit` of the task container, without its token or runtime env (snapshot.ts). */
  async snapshot(id: string): Promise<string> {
    checkId(id);
    return commitSnapshot(this.docker, id);
  }

  /** `docker rmi` of a snapshot image, only of one, never forced (snapshot.ts). */
  async deleteSnapshot(ref: string): Promise<void> {
    return deleteSnapshotImage(this.docker, ref);
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
    return { id: info.Id, os: info.Os, architecture: info.Architecture };
  }

  /** The carrier of a bundle image, one creation in flight per bundle in this process. */
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
    for (const c of found) await removeContainer(this.docker, c.Id).catch(() => undefined);
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
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw invalidId(id, 'hex digits');
}

/**
 * The runtime's way in for bridge sandboxes: the option, else AGENTIX_DOCKER_REACH, else the
 * socket when the engine can bind-mount a directory of this host (a local `unix://` engine on
 * Linux; Docker Desktop's VM on macOS does not pass Unix sockets through its file sharing)
 * and the socket's host path is short enough to connect to.
 */
function chooseReach(opts: DockerDeploymentOptions, engine: string): RuntimeReach {
  const given = opts.runtimeReach ?? process.env.AGENTIX_DOCKER_REACH;
  const what = opts.runtimeReach !== undefined ? 'the runtimeReach option' : 'AGENTIX_DOCKER_REACH';
  if (given !== undefined && given !== 'socket' && given !== 'port') throw new Error(`${what} must be "socket" or "port", got ${JSON.stringify(given)}`);
  const local = engine.startsWith('unix://');
  if (given === 'socket' && !local)
    throw new Error(`${what} is "socket" but the Docker engine is not on this host (DOCKER_HOST=${engine}): the runtime's socket directory is bind-mounted from here; use "port"`);
  // a long TMPDIR makes the host path of the socket longer than a socket address can be
  const fits = socketPathFits();
  if (given === 'socket' && !fits)
    throw new Error(`${what} is "socket" but the runtime's socket would be at a path longer than 107 bytes under the temp dir (TMPDIR=${tmpdir()}): set a shorter TMPDIR, or use "port"`);
  return given ?? (local && fits && process.platform === 'linux' ? 'socket' : 'port');
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
