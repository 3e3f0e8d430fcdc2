/**
 * Carriers: one container per bundle image, created and never started, whose
 * anonymous `/nix` volume (the engine copies the image's content into it once)
 * every sandbox of that bundle mounts with `VolumesFrom: [carrier:ro]`.
 */
import type Docker from 'dockerode';
import { dockerMessage, statusOf } from '../../bundle/docker-engine.js';
import { ENTRYPOINT } from '../../bundle/layout.js';
import { LABELS } from '../shared/labels.js';

/** The deterministic carrier name for a bundle image: parallel creators collide on it and reuse the winner. */
export function carrierName(imageId: string): string {
  return `agentix-carrier-${imageId.replace(/^sha256:/, '').slice(0, 20)}`;
}

/** Finds or creates the carrier of a bundle image; races (here or in another process) end with everyone using one. */
export async function ensureCarrier(docker: Docker, imageId: string, tag: string, extraLabels: Record<string, string> = {}): Promise<string> {
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
        Labels: { ...extraLabels, [LABELS.carrier]: '1', [LABELS.bundle]: tag, [LABELS.bundleId]: imageId },
      },
    } as unknown as Docker.ContainerCreateOptions);
  } catch (err) {
    if (statusOf(err) !== 409) throw new Error(`cannot create the carrier for bundle ${tag}: ${dockerMessage(err)}`);
    // 409: another creator won the race; its container is ours too
  }
  return name;
}

/** True when the named carrier no longer exists (engine errors other than 404 count as "not gone"). */
export function carrierGone(docker: Docker, name: string): Promise<boolean> {
  return docker
    .getContainer(name)
    .inspect()
    .then(
      () => false,
      (err) => statusOf(err) === 404,
    );
}
