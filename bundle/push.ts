/**
 * `agentix build --push`: pushes a loaded bundle image to its registry so a
 * cluster can pull it, with the credentials Docker stored for that registry
 * (`$DOCKER_CONFIG/config.json`, default ~/.docker/config.json: `auths`
 * entries, or the credential helper `credHelpers` / `credsStore` names), and
 * returns the digest reference (`REPO@sha256:…`) to use as `bundle`: a tag can
 * move, a digest names exactly what was built.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { dockerMessage } from './docker-engine.js';
import { splitTag } from './load.js';

/** Docker Hub's key in config.json. */
const DOCKER_HUB = 'https://index.docker.io/v1/';
const HELPER_MS = 30_000;
/** A push of a fresh ~100 MiB bundle to a slow registry takes a while; a stuck one must still end. */
const PUSH_MS = 30 * 60_000;

export interface Pushed {
  /** `REPO@sha256:…` */
  reference: string;
  digest: string;
}

/** The registry host of an image reference, as Docker reads it (no host part: Docker Hub). */
export function registryOf(ref: string): string {
  const first = ref.split('/')[0]!;
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

interface AuthConfig {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress?: string;
}

/** Docker's stored credentials for `registry`, or {} (anonymous). */
export async function dockerCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<AuthConfig> {
  const file = join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
  if (!existsSync(file)) return {};
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>; credHelpers?: Record<string, string>; credsStore?: string };
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read Docker's credentials from ${file}: ${(err as Error).message}`);
  }
  const keys = registry === 'docker.io' ? [DOCKER_HUB, 'docker.io', 'index.docker.io'] : [registry, `https://${registry}`, `http://${registry}`];
  const helper = keys.map((k) => config.credHelpers?.[k]).find(Boolean) ?? config.credsStore;
  if (helper) {
    const found = await fromHelper(helper, registry === 'docker.io' ? DOCKER_HUB : registry, env);
    if (found) return found;
  }
  for (const k of keys) {
    const a = config.auths?.[k];
    if (!a) continue;
    if (a.identitytoken) return { identitytoken: a.identitytoken, serveraddress: registry };
    if (a.auth) {
      const text = Buffer.from(a.auth, 'base64').toString();
      const colon = text.indexOf(':');
      if (colon < 0) throw new Error(`${file}: the auth entry of ${k} is not base64 of user:password`);
      return { username: text.slice(0, colon), password: text.slice(colon + 1), serveraddress: registry };
    }
    if (a.username) return { username: a.username, password: a.password, serveraddress: registry };
  }
  return {};
}

/** `docker-credential-NAME get`: undefined when it has nothing for the registry. */
function fromHelper(name: string, server: string, env: NodeJS.ProcessEnv): Promise<AuthConfig | undefined> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${name}`, ['get'], { timeout: HELPER_MS, env }, (err, stdout, stderr) => {
      if (err) {
        // "credentials not found" is an answer, not a failure: push anonymously
        if (/not found/i.test(String(stderr) + String(stdout))) return resolve(undefined);
        return reject(new Error(`the Docker credential helper docker-credential-${name} failed for ${server}: ${String(stderr).trim() || err.message}`));
      }
      try {
        const { Username, Secret } = JSON.parse(stdout) as { Username: string; Secret: string };
        resolve(Username === '<token>' ? { identitytoken: Secret, serveraddress: server } : { username: Username, password: Secret, serveraddress: server });
      } catch {
        reject(new Error(`docker-credential-${name} answered something that is not JSON`));
      }
    });
    child.stdin?.end(server);
  });
}

/** Pushes `tag` (loaded in the engine) and returns its digest reference. */
export async function pushBundle(docker: Docker, tag: string): Promise<Pushed> {
  const { repo, tag: version } = splitTag(tag);
  const registry = registryOf(repo);
  const authconfig = await dockerCredentials(registry);
  let stream: NodeJS.ReadableStream;
  try {
    // authconfig is always sent ({} = anonymous): the engine refuses a push without the header
    stream = (await docker.getImage(tag).push({ tag: version, authconfig, abortSignal: AbortSignal.timeout(PUSH_MS) } as object)) as NodeJS.ReadableStream;
  } catch (err) {
    throw new Error(`pushing ${tag} to ${registry} failed: ${dockerMessage(err)}`);
  }
  let digest: string | undefined;
  let text = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    text += chunk.toString();
    const lines = text.split('\n');
    text = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      let msg: { error?: string; errorDetail?: { message?: string }; aux?: { Digest?: string } };
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (msg.error || msg.errorDetail) throw new Error(`pushing ${tag} to ${registry} failed: ${msg.errorDetail?.message ?? msg.error}${/denied|unauthorized|authentication/i.test(String(msg.error)) ? ` (log in first: docker login ${registry === 'docker.io' ? '' : registry})` : ''}`);
      if (msg.aux?.Digest) digest = msg.aux.Digest;
    }
  }
  if (!digest) throw new Error(`pushing ${tag} to ${registry}: the engine reported no digest`);
  return { reference: `${repo}@${digest}`, digest };
}
