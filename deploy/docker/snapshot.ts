/**
 * Snapshots of Docker sandboxes: `docker commit` of the task container, made
 * into an image a new sandbox can start from (`create({ ...config, image: ref })`).
 *
 * What the commit holds: the task container's own filesystem layer on top of
 * its image. Not the bundle's /nix (a volume from the carrier, and the engine
 * never commits volumes or bind mounts: the new sandbox mounts its own
 * carrier's), nor the socket directory of a sandbox reached through one
 * (`network: 'none'`, or the bridge by 'socket'): a fork gets its own.
 *
 * What its config holds: the engine merges the container's config into a
 * commit's (daemon/commit.go `merge`), so whatever this sandbox was started
 * with (its token, the runtime's bind address, the user's `env`, the bundle's
 * entrypoint, the agentix labels) would be baked into the image. The commit
 * therefore sets the config explicitly from the task image the container was
 * made from, and names each other variable bare (no `=`), which is the
 * engine's way of unsetting it: a container started from the snapshot does
 * not get it. Agentix labels are blanked and replaced by the snapshot's own.
 *
 * Removal: deployment.deleteSnapshot (deleteSnapshotImage below), or
 * `agentix gc` once the owner is gone (removeSnapshot, gc.ts).
 */
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { bounded, dockerMessage, isTimeout, statusOf, ENGINE_CALL_MS } from '../../bundle/docker-engine.js';
import { AgentixError } from '../../runtime/wire/errors.js';
import { LABELS, ownerLabels } from '../shared/labels.js';
import { leaksContainerEnv, scrubContainerConfig } from './snapshot-scrub.js';

/** The repository every snapshot is tagged in: `agentix-snapshot:<sandbox>-<random>`. */
export const SNAPSHOT_REPO = 'agentix-snapshot';
/** Committing copies the container's layer: a big one takes a while, but never for ever. */
const COMMIT_MS = 10 * 60_000;

/** Commits sandbox `id` into a snapshot image; returns its reference. The sandbox keeps running. */
export async function commitSnapshot(docker: Docker, id: string): Promise<string> {
  const container = docker.getContainer(id);
  let info: Docker.ContainerInspectInfo;
  try {
    info = await container.inspect(bounded());
  } catch (err) {
    if (isTimeout(err)) throw new AgentixError('UNAVAILABLE', `cannot snapshot sandbox ${id}: the Docker engine did not answer within ${ENGINE_CALL_MS / 1000} s`);
    if (statusOf(err) === 404) throw new AgentixError('NOT_FOUND', `cannot snapshot sandbox ${id}: no such sandbox`);
    throw new AgentixError('UNAVAILABLE', `cannot snapshot sandbox ${id}: ${dockerMessage(err)}`);
  }
  const labels = info.Config.Labels ?? {};
  if (labels[LABELS.sandbox] !== '1') throw new AgentixError('INVALID_ARGUMENT', `cannot snapshot container ${id}: it is not an agentix sandbox`);
  if (!info.State.Running) throw new AgentixError('INVALID_ARGUMENT', `cannot snapshot sandbox ${id}: it is not running (${info.State.Status})`);
  const base = await docker
    .getImage(info.Image)
    .inspect(bounded() as object)
    .catch((err) => {
      throw new AgentixError('UNAVAILABLE', `cannot snapshot sandbox ${id}: its image ${info.Image} cannot be inspected (${dockerMessage(err)})`);
    });
  const tag = `${info.Id.slice(0, 12)}-${randomBytes(4).toString('hex')}`;
  const ref = `${SNAPSHOT_REPO}:${tag}`;
  const config = snapshotConfig(info, base.Config ?? {}, {
    ...ownerLabels(),
    [LABELS.snapshot]: '1',
    [LABELS.snapshotOf]: info.Id,
    [LABELS.image]: labels[LABELS.image] ?? info.Config.Image,
    [LABELS.bundle]: labels[LABELS.bundle] ?? '',
  });
  const signal = AbortSignal.timeout(COMMIT_MS);
  try {
    await container.commit({
      // pause: the filesystem is copied as of one instant, not while the sandbox writes to it
      _query: { container: info.Id, repo: SNAPSHOT_REPO, tag, pause: true, comment: `agentix snapshot of sandbox ${info.Id}` },
      _body: config,
      abortSignal: signal,
    } as object);
  } catch (err) {
    if (isTimeout(err)) throw new AgentixError('UNAVAILABLE', `cannot snapshot sandbox ${id}: the commit did not finish within ${COMMIT_MS / 1000} s`);
    throw new AgentixError('UNAVAILABLE', `cannot snapshot sandbox ${id}: ${dockerMessage(err)}`);
  }
  try {
    // older engines keep the container's whole config (the token, the env) in the image too
    if (leaksContainerEnv(await docker.getImage(ref).inspect({ abortSignal: signal } as object))) await scrubContainerConfig(docker, ref, signal);
  } catch (err) {
    // an image that may hold the token is not handed out
    await docker.getImage(ref).remove({ force: true, noprune: true, ...bounded() }).catch(() => undefined);
    if (isTimeout(err)) throw new AgentixError('UNAVAILABLE', `cannot snapshot sandbox ${id}: the snapshot was not rewritten within ${COMMIT_MS / 1000} s`);
    throw new AgentixError('UNAVAILABLE', `cannot snapshot sandbox ${id}: removing the sandbox's environment from the committed image failed: ${(err as Error).message}`);
  }
  return ref;
}

type ImageConfig = NonNullable<Docker.ImageInspectInfo['Config']>;

/**
 * The config a snapshot is committed with: the task image's, every variable
 * the sandbox added unset, every agentix label blanked and the snapshot's own set.
 * Exported for its test.
 */
export function snapshotConfig(container: Docker.ContainerInspectInfo, image: Partial<ImageConfig>, snapshotLabels: Record<string, string>): Record<string, unknown> {
  const imageEnv = image.Env ?? [];
  const imageKeys = new Set(imageEnv.map((e) => e.split('=')[0]));
  const added = (container.Config.Env ?? []).map((e) => e.split('=')[0]!).filter((k) => !imageKeys.has(k));
  const labels: Record<string, string> = {};
  const ours = new Set<string>(Object.values(LABELS));
  for (const k of Object.keys(container.Config.Labels ?? {})) if (ours.has(k)) labels[k] = '';
  Object.assign(labels, image.Labels ?? {}, snapshotLabels);
  return {
    Env: [...imageEnv, ...added],
    Labels: labels,
    // [] rather than null: a null one would be filled in with the sandbox's (the bundle's node)
    Entrypoint: image.Entrypoint ?? [],
    Cmd: image.Cmd ?? [],
    WorkingDir: image.WorkingDir ?? '',
    // an empty User would take the sandbox's (`config.user`): "0" is what an image without one runs as
    User: image.User || (container.Config.User ? '0' : ''),
  };
}

/** What snapshot() returns: the snapshot repository and a tag (Docker's tag grammar). */
const SNAPSHOT_REF = new RegExp(`^${SNAPSHOT_REPO}:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`);
/** How many of the containers that use a snapshot an error names. */
const MAX_NAMED_USERS = 10;

/**
 * deployment.deleteSnapshot: removes snapshot image `ref` (`docker rmi`, not
 * forced). Only a reference of the form snapshot() returns whose image carries
 * `agentix.snapshot=1`: a task image, a bundle, any image of the user's is
 * refused (INVALID_ARGUMENT) before the engine is asked to remove anything,
 * and the form also keeps `/`, `?` and `..` out of the engine's URL. An image
 * a container uses (running or stopped: a sandbox started from it) is kept by
 * the engine; that is refused with UNAVAILABLE naming the containers, not forced,
 * which would only untag it and leave its disk to no one.
 */
export async function deleteSnapshotImage(docker: Docker, ref: string): Promise<void> {
  const q = JSON.stringify(ref);
  if (typeof ref !== 'string' || !SNAPSHOT_REF.test(ref))
    throw new AgentixError('INVALID_ARGUMENT', `cannot delete snapshot ${q}: not a snapshot reference (snapshot() of the Docker deployment returns ${SNAPSHOT_REPO}:<tag>); deleteSnapshot removes no other image`);
  const image = docker.getImage(ref);
  let info: Docker.ImageInspectInfo;
  try {
    info = await image.inspect(bounded() as object);
  } catch (err) {
    throw engineFailure(err, ref, 'inspect');
  }
  if (info.Config?.Labels?.[LABELS.snapshot] !== '1')
    throw new AgentixError('INVALID_ARGUMENT', `cannot delete snapshot ${q}: the image has no ${LABELS.snapshot}=1 label, so it is not an agentix snapshot; not removing it`);
  try {
    await image.remove(bounded());
  } catch (err) {
    if (statusOf(err) !== 409) throw engineFailure(err, ref, 'remove');
    const users = await containersUsing(docker, info.Id);
    if (users.length === 0) throw new AgentixError('UNAVAILABLE', `cannot delete snapshot ${q}: ${dockerMessage(err)}`);
    const named = users.slice(0, MAX_NAMED_USERS).join(', ') + (users.length > MAX_NAMED_USERS ? ` and ${users.length - MAX_NAMED_USERS} more` : '');
    throw new AgentixError(
      'UNAVAILABLE',
      `cannot delete snapshot ${q}: ${users.length === 1 ? 'container' : 'containers'} ${named} (sandboxes started from it, running or stopped) use it, and the engine keeps an image a container uses; delete them first, then the snapshot`,
      { snapshot: ref, containers: users },
    );
  }
}

/** The ids of the containers made from image `id` (not those of images built on it). */
async function containersUsing(docker: Docker, id: string): Promise<string[]> {
  const found = await docker.listContainers({ all: true, filters: { ancestor: [id] }, ...bounded() } as object).catch(() => [] as Docker.ContainerInfo[]);
  return found.filter((c) => c.ImageID === id).map((c) => c.Id);
}

/** An engine call of deleteSnapshot that failed: NOT_FOUND for 404, else UNAVAILABLE. */
function engineFailure(err: unknown, ref: string, what: string): AgentixError {
  const q = JSON.stringify(ref);
  if (isTimeout(err)) return new AgentixError('UNAVAILABLE', `cannot delete snapshot ${q}: the Docker engine did not answer the image ${what} within ${ENGINE_CALL_MS / 1000} s`);
  if (statusOf(err) === 404) return new AgentixError('NOT_FOUND', `cannot delete snapshot ${q}: no such image (already deleted, or never made here)`);
  return new AgentixError('UNAVAILABLE', `cannot delete snapshot ${q}: ${dockerMessage(err)}`);
}

/** Removes a snapshot image; in use by a container (409) or already gone (404): false. */
export async function removeSnapshot(docker: Docker, id: string): Promise<boolean> {
  try {
    await docker.getImage(id).remove(bounded());
    return true;
  } catch (err) {
    if (statusOf(err) === 404 || statusOf(err) === 409) return false;
    throw new Error(`cannot remove snapshot image ${id}: ${dockerMessage(err)}`);
  }
}
