/**
 * How a Docker sandbox is networked and reached: `network` and `ports` of
 * its SandboxConfig turned into the container's NetworkMode, port bindings,
 * the runtime's bind address, and the URL the host connects to.
 *
 *   bridge (default)  the runtime's port and each of `ports` published on a random 127.0.0.1 port
 *   host              the host's network: the runtime binds a free loopback port, `ports` are the host's own
 *   none              no network at all: the runtime listens on a Unix socket in a fresh host
 *                     directory bind-mounted into the container (the engine must run on this host)
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { SANDBOX_PORT } from '../../bundle/layout.js';
import { processAlive } from '../../runtime/process-alive.js';
import { AgentixError } from '../../runtime/wire/errors.js';
import { type Bind } from '../shared/runtime-env.js';
import { freeLoopbackPort } from '../shared/loopback.js';
import { isPidTempDir, listPidTempDirs, makePidTempDir } from '../shared/pid-temp.js';
import type { SandboxConfig } from '../types.js';

export type NetworkMode = 'bridge' | 'host' | 'none';

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
  /** `network: 'none'`: the host directory (label agentix.socket-dir) holding the runtime's socket. */
  socketDir?: string;
  hostConfig: Pick<Docker.HostConfig, 'NetworkMode' | 'PortBindings' | 'Binds'>;
  exposed?: Record<string, object>;
}

const portKey = (p: number) => `${p}/tcp`;

/** The network of one sandbox; makes the socket directory for `'none'` (the caller removes it on failure). */
export async function planNetwork(config: SandboxConfig, deploymentDefault: 'bridge' | 'host'): Promise<NetworkPlan> {
  const mode: NetworkMode = config.network === 'none' ? 'none' : config.network === 'host' ? 'host' : deploymentDefault;
  const ports = config.ports ?? [];
  if (mode === 'host') {
    const hostPort = await freeLoopbackPort();
    return { mode, bind: { port: hostPort, host: '127.0.0.1' }, hostPort, hostConfig: { NetworkMode: 'host' } };
  }
  if (mode === 'none') {
    const socketDir = makeSocketDir();
    return { mode, bind: { socket: `${SOCKET_MOUNT}/${SOCKET_NAME}` }, socketDir, hostConfig: { NetworkMode: 'none', Binds: [`${join(socketDir, 's')}:${SOCKET_MOUNT}`] } };
  }
  if (ports.includes(SANDBOX_PORT))
    throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig: \`ports\`: ${SANDBOX_PORT} is the runtime's own port in the container; serve on another one`);
  const all = [SANDBOX_PORT, ...ports];
  return {
    mode,
    bind: {},
    hostConfig: { PortBindings: Object.fromEntries(all.map((p) => [portKey(p), [{ HostIp: '127.0.0.1', HostPort: '' }]])) },
    exposed: Object.fromEntries(all.map((p) => [portKey(p), {}])),
  };
}

/** The runtime's URL and the host URL of each of `ports`, once the container runs (`info`: its inspection, bridge only). */
export function endpoints(plan: NetworkPlan, ports: number[], info?: Docker.ContainerInspectInfo): Endpoints {
  if (plan.mode === 'none') return { runtimeUrl: socketUrl(plan.socketDir!), health: { socketPath: socketPathIn(plan.socketDir!) }, ports: {} };
  if (plan.mode === 'host')
    return { runtimeUrl: `ws://127.0.0.1:${plan.hostPort}`, health: { port: plan.hostPort! }, ports: Object.fromEntries(ports.map((p) => [p, `http://127.0.0.1:${p}`])) };
  const bound = (p: number) => {
    const hostPort = info?.NetworkSettings.Ports?.[portKey(p)]?.[0]?.HostPort;
    if (!hostPort) throw new Error(`the engine did not publish port ${p}`);
    return Number(hostPort);
  };
  const port = bound(SANDBOX_PORT);
  return { runtimeUrl: `ws://127.0.0.1:${port}`, health: { port }, ports: Object.fromEntries(ports.map((p) => [p, `http://127.0.0.1:${bound(p)}`])) };
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
