/**
 * The labels every backend puts on what it creates, and the owner rule
 * `agentix gc` applies to them. Docker containers and Kubernetes objects
 * carry the same keys; values that Kubernetes does not allow in a label (an
 * image reference, say) go into annotations there under the same key.
 */
import { hostname } from 'node:os';
import { processAlive } from '../../runtime/process-alive.js';

export const LABELS = {
  sandbox: 'agentix.sandbox',
  carrier: 'agentix.carrier',
  bundle: 'agentix.bundle',
  bundleId: 'agentix.bundle-id',
  ownerPid: 'agentix.owner-pid',
  ownerHost: 'agentix.owner-host',
  image: 'agentix.image',
  port: 'agentix.port',
  /** random per create() call: finds what the backend made although its answer was lost */
  createId: 'agentix.create-id',
  /** on a snapshot image (Docker): `1`; gc removes it once its owner is gone */
  snapshot: 'agentix.snapshot',
  /** on a snapshot image: the id of the sandbox it was taken from */
  snapshotOf: 'agentix.snapshot-of',
  /** when the sandbox's `lifetimeMs` is up (epoch milliseconds): gc removes it then, whoever owns it */
  expiresAt: 'agentix.expires-at',
  /** Docker, `network: 'none'`: the host directory holding the runtime's Unix socket */
  socketDir: 'agentix.socket-dir',
} as const;

/**
 * This host's name as a label value: Kubernetes allows at most 63 of
 * `[A-Za-z0-9._-]`, starting and ending alphanumeric. The same form on Docker,
 * so one rule compares them.
 */
export function ownerHost(name = hostname()): string {
  const clean = name.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return clean || 'unknown-host';
}

/** The owner labels of a sandbox this process creates. */
export function ownerLabels(): Record<string, string> {
  return { [LABELS.ownerPid]: String(process.pid), [LABELS.ownerHost]: ownerHost() };
}

/**
 * True while the process that created a sandbox may still use it: it runs on
 * this host, or it lives on another host (whose pids cannot be checked from
 * here). False only when it is provably gone: this host, no such process.
 */
export function ownerMayLive(labels: Record<string, string>): boolean {
  const host = labels[LABELS.ownerHost];
  if (host !== ownerHost() && host !== hostname()) return true;
  const pid = Number(labels[LABELS.ownerPid]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return processAlive(pid);
}

/** True once a sandbox's `agentix.expires-at` is past (no such label: never). */
export function expired(labels: Record<string, string>, now = Date.now()): boolean {
  const at = Number(labels[LABELS.expiresAt]);
  return labels[LABELS.expiresAt] !== undefined && labels[LABELS.expiresAt] !== '' && Number.isFinite(at) && at <= now;
}

/** Refuses user labels in the reserved `agentix.` namespace (what gc and get() rely on). */
export function reservedLabel(labels: Record<string, string> | undefined): string | undefined {
  return Object.keys(labels ?? {}).find((k) => k.startsWith('agentix.'));
}
