/**
 * Bundle images in the Docker engine that no tag names any more: what a
 * rebuild leaves behind. Used by the build (moving a tag) and by `agentix gc`
 * (after removing the carrier that was the image's last user).
 */
import type Docker from 'dockerode';
import { dockerMessage, statusOf } from './docker-engine.js';
import { BUNDLE_LABEL } from './layout.js';

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
