/**
 * Checks of a SandboxConfig every container backend makes before it asks its
 * engine or cluster for anything, with one message per mistake.
 */
import { AgentixError } from '../../runtime/wire/errors.js';
import type { SandboxConfig } from '../types.js';
import { reservedLabel } from './labels.js';

const NETWORKS = ['none', 'default', 'host'] as const;
/**
 * Variables the backend sets for the runtime itself. In `env` they would move
 * its socket, cut its lifetime, or (AGENTIX_TOKEN_FILE, read before
 * AGENTIX_TOKEN) replace its token: a sandbox that starts and then refuses
 * every caller, or one that never answers /health.
 */
const RESERVED_ENV = ['AGENTIX_TOKEN', 'AGENTIX_TOKEN_FILE', 'AGENTIX_BIND_PORT', 'AGENTIX_BIND_HOST', 'AGENTIX_BIND_SOCKET', 'AGENTIX_LIFETIME_MS', 'AGENTIX_EXIT_WITH_STDIN'];

/** How long create() waits for the runtime, unless `startupTimeoutMs` says otherwise. */
export const DEFAULT_STARTUP_MS = 30_000;
/** The smallest memory limit container runtimes accept (runc refuses less than 6 MiB). */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

const bad = (what: string): never => {
  throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig: ${what}`);
};

export function checkConfig(config: SandboxConfig): void {
  if (typeof config?.image !== 'string' || !config.image) bad('`image` (the task image) is required');
  if (typeof config.bundle !== 'string' || !config.bundle) bad('`bundle` (an image from `agentix build`) is required');
  if (config.cpus !== undefined && !(typeof config.cpus === 'number' && config.cpus > 0 && Number.isFinite(config.cpus))) bad(`\`cpus\` must be a positive number, got ${config.cpus}`);
  if (config.memoryBytes !== undefined && !(Number.isInteger(config.memoryBytes) && config.memoryBytes >= MIN_MEMORY_BYTES))
    bad(`\`memoryBytes\` must be a whole number of bytes, at least 6 MiB (the container runtime's minimum), got ${config.memoryBytes}`);
  if (config.startupTimeoutMs !== undefined && !(config.startupTimeoutMs > 0)) bad(`\`startupTimeoutMs\` must be positive, got ${config.startupTimeoutMs}`);
  if (config.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(config.platform)) bad(`\`platform\` must look like linux/amd64, got ${JSON.stringify(config.platform)}`);
  for (const [k, v] of Object.entries(config.env ?? {}))
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || typeof v !== 'string') bad(`env ${JSON.stringify(k)} must be a NAME with a string value`);
  for (const [k, v] of Object.entries(config.labels ?? {})) if (typeof v !== 'string') bad(`label ${k} must have a string value`);
  const reserved = reservedLabel(config.labels);
  if (reserved) bad(`label ${reserved}: the agentix.* labels are reserved`);
  checkSandboxOptions(config);
}

/** `network`, `ports`, `lifetimeMs` and the reserved `env` names: the checks every backend (the local one too) makes. */
export function checkSandboxOptions(config: Pick<SandboxConfig, 'network' | 'ports' | 'lifetimeMs' | 'env'>): void {
  for (const name of Object.keys(config.env ?? {}))
    if (RESERVED_ENV.includes(name)) bad(`env ${name} is set by the deployment for the runtime (its token, address or lifetime); use the SandboxConfig options instead`);
  if (config.network !== undefined && !(NETWORKS as readonly unknown[]).includes(config.network))
    bad(`\`network\` must be one of ${NETWORKS.map((n) => `"${n}"`).join(', ')}, got ${JSON.stringify(config.network)}`);
  if (config.ports !== undefined) {
    if (!Array.isArray(config.ports)) bad(`\`ports\` must be an array of port numbers, got ${JSON.stringify(config.ports)}`);
    const seen = new Set<number>();
    for (const p of config.ports) {
      if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) bad(`\`ports\`: ${JSON.stringify(p)} is not a port number (1-65535)`);
      if (seen.has(p)) bad(`\`ports\`: ${p} is listed twice`);
      seen.add(p);
    }
    if (config.ports.length > 0 && config.network === 'none') bad('`ports` cannot be published with `network: "none"` (the sandbox has no network to publish them on)');
  }
  if (config.lifetimeMs !== undefined && !(Number.isSafeInteger(config.lifetimeMs) && config.lifetimeMs > 0))
    bad(`\`lifetimeMs\` must be a positive whole number of milliseconds, got ${JSON.stringify(config.lifetimeMs)}`);
}

/** `uid[:gid]` when `user` is numeric (all Kubernetes can express), undefined for a name. */
export function numericUser(user: string): { uid: number; gid?: number } | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  return m ? { uid: Number(m[1]), gid: m[2] !== undefined ? Number(m[2]) : undefined } : undefined;
}
