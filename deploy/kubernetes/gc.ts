/**
 * `agentix gc` on a cluster: the sandboxes (pods) and token Secrets a crashed
 * host left in the namespace, found by the shared labels and judged by the
 * same owner rule as on Docker (shared/labels.ts); a pod past its
 * `lifetimeMs` (label agentix.expires-at) whoever owns it.
 */
import { expired, LABELS } from '../shared/labels.js';
import type { Removed } from '../shared/removed.js';
import { apiMessage, apiStatus, type KubeApi } from './api.js';

/** A Secret without its pod is kept this long: its creator may be between creating the one and the other. */
const LONE_SECRET_GRACE_MS = 5 * 60_000;

export async function collectClusterGarbage(
  api: KubeApi,
  namespace: string,
  opts: {
    /** true: leave this sandbox alone (its owner may still use it) */
    keep?: (labels: Record<string, string>) => boolean;
    dryRun?: boolean;
  },
): Promise<Removed[]> {
  const where = `kubernetes namespace ${namespace}`;
  const selector = `${LABELS.sandbox}=1`;
  const removed: Removed[] = [];
  const listFailed = (what: string) => (err: unknown) => {
    throw new Error(`cannot list the agentix ${what} in namespace ${namespace}: ${apiMessage(err)}`);
  };
  const pods = await api.core.listNamespacedPod({ namespace, labelSelector: selector }).catch(listFailed('pods'));
  const podNames = new Set<string>();
  for (const pod of pods.items) {
    const name = pod.metadata?.name ?? '';
    podNames.add(name);
    // past its lifetime a pod goes even while its owner lives (activeDeadlineSeconds only stops it)
    if (!expired(pod.metadata?.labels ?? {}) && opts.keep?.(pod.metadata?.labels ?? {})) continue;
    if (!opts.dryRun)
      await api.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch((err) => {
        if (apiStatus(err) !== 404) throw new Error(`cannot delete pod ${name}: ${apiMessage(err)}`);
      });
    podNames.delete(name);
    removed.push({ kind: 'sandbox', id: name, name, bundle: pod.metadata?.annotations?.[LABELS.bundle] ?? '', where });
  }
  const secrets = await api.core.listNamespacedSecret({ namespace, labelSelector: selector }).catch(listFailed('secrets'));
  for (const secret of secrets.items) {
    const name = secret.metadata?.name ?? '';
    if (podNames.has(name)) continue; // its sandbox stays
    const created = secret.metadata?.creationTimestamp ? new Date(secret.metadata.creationTimestamp).getTime() : 0;
    const young = Date.now() - created < LONE_SECRET_GRACE_MS;
    if (!expired(secret.metadata?.labels ?? {}) && opts.keep?.(secret.metadata?.labels ?? {}) && young) continue;
    if (!opts.dryRun)
      await api.core.deleteNamespacedSecret({ name, namespace }).catch((err) => {
        if (apiStatus(err) !== 404) throw new Error(`cannot delete secret ${name}: ${apiMessage(err)}`);
      });
    removed.push({ kind: 'secret', id: name, name, bundle: secret.metadata?.annotations?.[LABELS.bundle] ?? '', where });
  }
  return removed;
}
