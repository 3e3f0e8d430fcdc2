/**
 * `agentix gc` on the Docker engine: sandboxes found by label (those whose
 * `lifetimeMs` is up whoever owns them), then the snapshot images whose owner
 * is gone, then the carriers no remaining sandbox uses, then the untagged
 * bundle images those carriers were the last users of.
 */
import type Docker from 'dockerode';
import { bounded, dockerMessage, statusOf } from '../../bundle/docker-engine.js';
import { isUntaggedBundle, removeUntaggedBundle } from '../../bundle/images.js';
import { expired, LABELS, ownerHost } from '../shared/labels.js';
import type { Removed } from '../shared/removed.js';
import { orphanSocketDirs, removeSocketDir } from './network.js';
import { removeSnapshot } from './snapshot.js';

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
  /** socket directories (network: 'none') of the sandboxes that stay */
  const namedSocketDirs = new Set<string>();
  for (const c of sandboxes) {
    const labels = c.Labels ?? {};
    // past its lifetime a sandbox goes even while its owner lives (the owner's own timer may have died with it)
    if (!expired(labels) && opts.keep?.(labels)) {
      if (labels[LABELS.carrier]) usedCarriers.add(labels[LABELS.carrier]);
      if (labels[LABELS.socketDir]) namedSocketDirs.add(labels[LABELS.socketDir]);
      continue;
    }
    if (!opts.dryRun) {
      await removeContainer(docker, c.Id);
      // on this host only (isSocketDir checks the path is one of ours in this host's temp dir)
      if (labels[LABELS.ownerHost] === ownerHost()) removeSocketDir(labels[LABELS.socketDir]);
    }
    removed.push({ kind: 'sandbox', id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), bundle: labels[LABELS.bundle] ?? '', where: 'docker' });
  }
  // a process that died between making a socket directory and its container: nothing names the directory
  for (const dir of orphanSocketDirs(namedSocketDirs)) {
    if (!opts.dryRun) removeSocketDir(dir);
    removed.push({ kind: 'directory', id: dir, name: dir, bundle: '', where: 'docker' });
  }
  const snapshots = await docker.listImages({ filters: { label: [`${LABELS.snapshot}=1`] } } as object);
  for (const img of snapshots) {
    const labels = img.Labels ?? {};
    if (opts.keep?.(labels)) continue;
    const name = (img.RepoTags ?? []).find((t) => t !== '<none>:<none>') ?? '';
    // a snapshot a remaining sandbox still runs from stays (the engine refuses, 409) until that sandbox goes
    if (opts.dryRun ? true : await removeSnapshot(docker, img.Id)) removed.push({ kind: 'snapshot', id: img.Id, name, bundle: labels[LABELS.bundle] ?? '', where: 'docker' });
  }
  if (opts.carriers) {
    const carriers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.carrier}=1`] } });
    for (const c of carriers) {
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      if (usedCarriers.has(name)) continue;
      if (opts.keepCarrier && (await opts.keepCarrier(c.Labels?.[LABELS.bundleId] ?? ''))) continue;
      if (!opts.dryRun) await removeContainer(docker, c.Id);
      removed.push({ kind: 'carrier', id: c.Id, name, bundle: c.Labels?.[LABELS.bundle] ?? '', where: 'docker' });
      // a rebuild moved the tag away: the carrier was the image's last user, so the image
      // would stay as a dangling <none> (with the carrier gone, nothing else removes it)
      const bundleId = c.Labels?.[LABELS.bundleId];
      if (bundleId && (opts.dryRun ? await isUntaggedBundle(docker, bundleId) : await removeUntaggedBundle(docker, bundleId)))
        removed.push({ kind: 'image', id: bundleId, name: bundleId.replace(/^sha256:/, '').slice(0, 12), bundle: c.Labels?.[LABELS.bundle] ?? '', where: 'docker' });
    }
  }
  return removed;
}

/** Removes a container with its anonymous volumes; already gone (404) or going (409) is fine. */
export async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true, ...bounded() });
  } catch (err) {
    if (statusOf(err) !== 404 && statusOf(err) !== 409) throw new Error(`cannot remove container ${id}: ${dockerMessage(err)}`);
  }
}
