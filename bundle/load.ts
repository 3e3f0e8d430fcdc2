/**
 * Puts a built image into the Docker engine: when an image with the same ID
 * is already there (an unchanged rebuild) it only tags it; otherwise it
 * streams the docker-archive into `POST /images/load`.
 */
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { dockerMessage, statusOf } from './docker-engine.js';
import { removeUntaggedBundle } from './images.js';

export function splitTag(ref: string): { repo: string; tag: string } {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) } : { repo: ref, tag: 'latest' };
}

/** Checks NAME[:TAG] the way Docker does (lowercase path components, optional registry host), defaulting the tag to latest. */
export function normaliseTag(ref: string): string {
  const { repo, tag } = splitTag(ref.trim());
  const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
  const repoRe = new RegExp(`^(?:[a-zA-Z0-9.-]+(?::\\d+)?/)?${component}(?:/${component})*$`);
  if (!repoRe.test(repo)) throw new Error(`invalid image name ${JSON.stringify(ref)}: use lowercase letters, digits and . _ - separators, e.g. myproj:0.1.0`);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new Error(`invalid tag in ${JSON.stringify(ref)}: letters, digits, _ . - (at most 128)`);
  return `${repo}:${tag}`;
}

export async function imageExists(docker: Docker, id: string): Promise<boolean> {
  try {
    await docker.getImage(id).inspect();
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw new Error(`cannot inspect image ${id}: ${dockerMessage(err)}`);
  }
}

export async function loadArchive(docker: Docker, archive: () => Readable, id: string, ref: string): Promise<'loaded' | 'tagged'> {
  const previous = await docker
    .getImage(ref)
    .inspect()
    .then(
      (info) => info.Id,
      () => undefined,
    );
  const how = await loadOrTag(docker, archive, id, ref);
  // Moving the tag leaves the previous bundle image untagged: remove it unless something
  // still uses it (its carrier: then `agentix gc` removes both) or another tag names it.
  if (previous && previous !== id) await removeUntaggedBundle(docker, previous).catch(() => undefined);
  return how;
}

async function loadOrTag(docker: Docker, archive: () => Readable, id: string, ref: string): Promise<'loaded' | 'tagged'> {
  const { repo, tag } = splitTag(ref);
  if (await imageExists(docker, id)) {
    await docker.getImage(id).tag({ repo, tag });
    return 'tagged';
  }
  let response: NodeJS.ReadableStream;
  const body = archive();
  try {
    response = await docker.loadImage(body, { quiet: true });
  } catch (err) {
    // the engine may refuse before reading it all: a paused archive would keep a layer file open
    body.destroy();
    throw new Error(`docker load failed: ${dockerMessage(err)}`);
  }
  // The engine answers with JSON lines; a failure is a line with "error" after a 200.
  let text = '';
  for await (const chunk of response as AsyncIterable<Buffer | string>) text += chunk.toString();
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    let msg: { error?: string; errorDetail?: { message?: string } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      continue;
    }
    if (msg.error || msg.errorDetail) throw new Error(`docker load failed: ${msg.errorDetail?.message ?? msg.error}`);
  }
  const info = await docker.getImage(ref).inspect().catch((err) => Promise.reject(new Error(`docker load did not produce ${ref}: ${dockerMessage(err)}`)));
  if (info.Id !== id) throw new Error(`docker load produced ${info.Id} for ${ref}, expected ${id}`);
  return 'loaded';
}
