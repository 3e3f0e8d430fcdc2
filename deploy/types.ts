/**
 * The deployment boundary: where a bundle runs. Backends are structural (no
 * base class), need no constructor arguments and read their configuration from
 * the environment, failing fast in the constructor when something is missing.
 */

export interface SandboxConfig {
  /** Task image the sandbox starts from (ignored by `local`). */
  image: string;
  /** Bundle image `name:tag` from `agentix build` (for `local`: a project directory). */
  bundle: string;
  /** OCI platform, e.g. `linux/amd64`; must match the bundle's. */
  platform?: string;
  /** Extra environment for the runtime and the user code. */
  env?: Record<string, string>;
  /** Working directory of the user code (default: the task image's). */
  workdir?: string;
  /** User to run as, `uid[:gid]` or a name the task image knows. */
  user?: string;
  /** CPU limit in cores (fractions allowed). */
  cpus?: number;
  /** Memory limit in bytes. */
  memoryBytes?: number;
  /** How long to wait for the runtime to answer /health (default 30 s). */
  startupTimeoutMs?: number;
  /** Extra labels on what the deployment creates. */
  labels?: Record<string, string>;
  /**
   * The task container's network (default `'default'`: the engine's usual
   * network, with egress). `'none'`: no network at all (no egress, no DNS);
   * the runtime is then reached through a Unix socket in a host directory
   * mounted into the container, and `runtimeUrl` is `ws+unix://…`.
   * `'host'`: the host's network namespace.
   */
  network?: 'none' | 'default' | 'host';
  /** Container ports published on 127.0.0.1; `sandbox.ports[port]` is the host URL of each. */
  ports?: number[];
  /**
   * The sandbox is deleted once it is this old, even if the host that made it
   * died: the runtime exits by itself, and the backend (or `agentix gc`)
   * removes what is left.
   */
  lifetimeMs?: number;
}

export interface Sandbox {
  id: string;
  /** What `RuntimeClient.connect` takes: `ws://127.0.0.1:PORT`, or `ws+unix:///path/to.sock` for a sandbox reached through its Unix socket (Docker on this host, `network: 'none'`). */
  runtimeUrl: string;
  /** The sandbox's AGENTIX_TOKEN. */
  token: string;
  /** Host URL (`http://127.0.0.1:PORT`) of each port in `SandboxConfig.ports`. */
  ports: Record<number, string>;
}

export type SandboxState = 'creating' | 'running' | 'exited' | 'deleted' | 'unknown';

export interface SandboxInfo {
  id: string;
  state: SandboxState;
  /** When the sandbox was created. */
  created: Date;
  image: string;
  bundle: string;
  runtimeUrl?: string;
}

export interface Deployment {
  create(config: SandboxConfig): Promise<Sandbox>;
  delete(id: string): Promise<void>;
  get(id: string): Promise<SandboxInfo>;
  /**
   * An image reference of the sandbox's filesystem (the /nix overlay
   * excluded) that `create({ ...config, image: ref })` starts from. The
   * sandbox keeps running. Optional: backends that cannot snapshot leave it out.
   */
  snapshot?(id: string): Promise<string>;
  /**
   * Removes a snapshot `snapshot()` made (also one `fork` made: `child.snapshot`,
   * `err.snapshot`). Sandboxes already started from it are not affected where
   * they run in copies of their own (local); where they still use it (a Docker
   * container from the image) it is refused (`UNAVAILABLE`, naming them): delete
   * them first. Already removed or never made: `NOT_FOUND`; not a snapshot
   * reference of this backend: `INVALID_ARGUMENT` (nothing is removed). Optional,
   * with `snapshot`: a backend that has one has the other.
   */
  deleteSnapshot?(ref: string): Promise<void>;
}

export type DeploymentClass = new () => Deployment;

/** Options of the Docker deployment's constructor; each also has an environment variable, which it overrides. */
export interface DockerDeploymentOptions {
  /**
   * How the host reaches the runtime of a bridge-network sandbox (AGENTIX_DOCKER_REACH):
   * `'socket'`, a Unix socket in a host directory bind-mounted into the container (no port is
   * published for the runtime, which makes the start cheaper), or `'port'`, its port 8000
   * published on 127.0.0.1. Default: `'socket'` when the engine is on this host (a `unix://`
   * DOCKER_HOST, on Linux, with a TMPDIR short enough for the socket's path), else `'port'`
   * (the only way for an engine elsewhere).
   */
  runtimeReach?: 'socket' | 'port';
}

/** `loadDeployment('docker')`: takes DockerDeploymentOptions. */
export type DockerDeploymentClass = new (options?: DockerDeploymentOptions) => Deployment;
