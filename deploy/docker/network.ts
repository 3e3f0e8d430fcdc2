/**
 * How a Docker sandbox is networked and reached: `network` and `ports` of
 * its SandboxConfig turned into the container's NetworkMode, port bindings,
 * the runtime's bind address, and the URL the host connects to.
 *
 *   bridge (default)  the container's own network with egress; each of `ports` published on a random
 *                     127.0.0.1 port; the runtime reached (`reach`) through a Unix socket like `none`'s
 *                     ('socket', the default with an engine on this host) or its port 8000 published
 *                     the same way as `ports` ('port', for an engine elsewhere)
 *   host              the host's network: the runtime binds a free loopback port, `ports` are the host's own
 *   none              no network at all: the runtime listens on a Unix socket in a fresh host
 *                     directory bind-mounted into the container (the engine must run on this host)
 *
 * Why the socket on the bridge: publishing a port costs the engine a
 * docker-proxy process and NAT rules on every start (docs/benchmarks.md,
 * "Where a sandbox's start goes"); a bind mount costs next to nothing.
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { SANDBOX_PORT } from '../../bundle/layout.js';
import { processAlive } from '../../runtime/process-alive.js';
import { AgentixError } from '../../runtime/wire/errors.js';
import { type Bind } from '../shared/runtime-env.js';
import { freeLoopbackPort } from '../shared/loopback.js';
import { isPidTempDir, listPidTempDirs, makePidTempDir } from '../shared/pid-temp.js';
import type { DockerDeploymentOptions, SandboxConfig } from '../types.js';

export type NetworkMode = 'bridge' | 'host' | 'none';
/** How the host reaches the runtime of a bridge sandbox: its Unix socket (bind-mounted) or its published port. */
export type RuntimeReach = NonNullable<DockerDeploymentOptions['runtimeReach']>;

/** Where the socket directory appears in the container. */
export const SOCKET_MOUNT = '/run/agentix';
const SOCKET_NAME = 'runtime.sock';
/** Socket directories are pid temp dirs (shared/pid-temp.ts) of this prefix. */
const SOCKET_DIR_PREFIX = 'agentix-docker-net';

export interface NetworkPlan {
  mode: NetworkMode;
  /** The runtime's bind address or socket (runtimeEnv). */
  bind: Bind;
  /** `network: 'host'`: the loopback port the runtime binds. */
  hostPort?: number;
  /** `network: 'none'`, or the bridge reached by 'socket': the host directory (label agentix.socket-dir) holding the runtime's socket. */
  socketDir?: string;
  hostConfig: Pick<Docker.HostConfig, 'NetworkMode' | 'PortBindings' | 'Binds' | 'Mounts'>;
  exposed?: Record<string, object>;
}

const portKey = (p: number) => `${p}/tcp`;

/** The runtime listens on this socket in the container (runtimeEnv's AGENTIX_BIND_SOCKET). */
const socketBind: Bind = { socket: `${SOCKET_MOUNT}/${SOCKET_NAME}` };
const socketMount = (socketDir: string) => `${join(socketDir, 's')}:${SOCKET_MOUNT}`;

/** The network of one sandbox; makes the socket directory for `'none'` and the socket-reached bridge (the caller removes it on failure). */
export async function planNetwork(config: SandboxConfig, deploymentDefault: 'bridge' | 'host', reach: RuntimeReach): Promise<NetworkPlan> {
  const mode: NetworkMode = config.network === 'none' ? 'none' : config.network === 'host' ? 'host' : deploymentDefault;
  const ports = config.ports ?? [];
  if (mode === 'host') {
    const hostPort = await freeLoopbackPort();
    return { mode, bind: { port: hostPort, host: '127.0.0.1' }, hostPort, hostConfig: { NetworkMode: 'host' } };
  }
  if (mode === 'none') {
    const socketDir = makeSocketDir();
    return { mode, bind: socketBind, socketDir, hostConfig: { NetworkMode: 'none', Binds: [socketMount(socketDir)] } };
  }
  // refused whatever the reach: the same config must work with either
  if (ports.includes(SANDBOX_PORT))
    throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig: \`ports\`: ${SANDBOX_PORT} is the runtime's own port in the container; serve on another one`);
  const published = reach === 'port' ? [SANDBOX_PORT, ...ports] : ports;
  const PortBindings = Object.fromEntries(published.map((p) => [portKey(p), [{ HostIp: '127.0.0.1', HostPort: '' }]]));
  const exposed = Object.fromEntries(published.map((p) => [portKey(p), {}]));
  if (reach === 'port') return { mode, bind: {}, hostConfig: { PortBindings }, exposed };
  // NetworkMode stays the default (the bridge, with egress): only the runtime's way in is the socket.
  // A Mounts entry rather than a Binds one: an engine that cannot see this host's directory (in a VM,
  // or in another container sharing only the engine's socket) refuses it at once, where a bind would
  // make an empty directory over there and the health wait would run out (backend.ts says what to do).
  const socketDir = makeSocketDir();
  return { mode, bind: socketBind, socketDir, hostConfig: { PortBindings, Mounts: [{ Type: 'bind', Source: join(socketDir, 's'), Target: SOCKET_MOUNT }] }, exposed };
}

/** True when the URLs are only known once the engine has published ports (a container inspection after start). */
export function needsInspection(plan: NetworkPlan): boolean {
  return plan.mode === 'bridge' && Object.keys(plan.exposed ?? {}).length > 0;
}

/** The runtime's URL and the host URL of each of `ports`, once the container runs (`info`: its inspection, when needsInspection). */
export function endpoints(plan: NetworkPlan, ports: number[], info?: Docker.ContainerInspectInfo): Endpoints {
  if (plan.mode === 'none') return { runtimeUrl: socketUrl(plan.socketDir!), health: { socketPath: socketPathIn(plan.socketDir!) }, ports: {} };
  if (plan.mode === 'host')
    return { runtimeUrl: `ws://127.0.0.1:${plan.hostPort}`, health: { port: plan.hostPort! }, ports: Object.fromEntries(ports.map((p) => [p, `http://127.0.0.1:${p}`])) };
  const bound = (p: number) => {
    const hostPort = info?.NetworkSettings.Ports?.[portKey(p)]?.[0]?.HostPort;
    if (!hostPort) throw new Error(`the engine did not publish port ${p}`);
    return Number(hostPort);
  };
  const published = Object.fromEntries(ports.map((p) => [p, `http://127.0.0.1:${bound(p)}`]));
  if (plan.socketDir) return { runtimeUrl: socketUrl(plan.socketDir), health: { socketPath: socketPathIn(plan.socketDir) }, ports: published };
  const port = bound(SANDBOX_PORT);
  return { runtimeUrl: `ws://127.0.0.1:${port}`, health: { port }, ports: published };
}

export interface Endpoints {
  runtimeUrl: string;
  /** Where to ask /health: a port on 127.0.0.1, or the runtime's socket. */
  health: { port: number; socketPath?: undefined } | { port?: undefined; socketPath: string };
  /** Host URL of each of `ports`. */
  ports: Record<number, string>;
}

/** The host path of the runtime's socket in a socket directory. */
export function socketPathIn(socketDir: string): string {
  return join(socketDir, 's', SOCKET_NAME);
}

/** The longest path a Unix socket can be connected by (sun_path is 108 bytes with its NUL on Linux). */
const MAX_SOCKET_PATH = 107;

/** True when the socket of a socket directory made now (in the temp dir, TMPDIR) is short enough to connect to. */
export function socketPathFits(): boolean {
  return Buffer.byteLength(socketPathIn(join(tmpdir(), `${SOCKET_DIR_PREFIX}-${process.pid}-XXXXXX`))) <= MAX_SOCKET_PATH;
}

export function socketUrl(socketDir: string): string {
  return `ws+unix://${socketPathIn(socketDir)}`;
}

/**
 * A fresh socket directory: a private (0700) one on the host, and inside it
 * the directory the container sees, open to every uid (the sandbox may run
 * as any `user`, and its runtime creates the socket there). Other host users
 * cannot reach it through the private parent.
 */
function makeSocketDir(): string {
  const dir = makePidTempDir(SOCKET_DIR_PREFIX);
  try {
    mkdirSync(join(dir, 's'));
    chmodSync(join(dir, 's'), 0o777);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/** True when `dir` is a socket directory this module makes (a label could name anything: only those are removed). */
export function isSocketDir(dir: string | undefined): dir is string {
  return isPidTempDir(dir, SOCKET_DIR_PREFIX);
}

export function removeSocketDir(dir: string | undefined): void {
  if (isSocketDir(dir)) rmSync(dir, { recursive: true, force: true });
}

/** Socket directories no container names and whose creating process is gone (it died between making one and its container). */
export function orphanSocketDirs(named: Set<string>): string[] {
  return listPidTempDirs([SOCKET_DIR_PREFIX])
    .filter((d) => !processAlive(d.pid) && !named.has(d.path))
    .map((d) => d.path);
}
