/**
 * Takes the sandbox's environment out of a freshly committed snapshot image.
 *
 * A commit sets the image's `Config` from the request (snapshot.ts does that
 * cleanly), but older engines (Docker 20.10, API 1.41, here) also store the *container's* config
 * as the image's `container_config` (`ContainerConfig` in `docker image
 * inspect`), with its whole environment: the sandbox's `AGENTIX_TOKEN` and
 * every value of `config.env`. That copy goes wherever the image goes
 * (`docker save`, `docker push`). No commit option leaves it out, so when it
 * holds anything the task image did not have, the image is rewritten: saved,
 * its config JSON stripped of `container_config` and `container`, loaded
 * again under the same tag (a new image ID), and the committed one removed.
 * That streams the image through this process once each way, which costs
 * time in proportion to the task image's size, only where the leak is seen.
 */
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { dockerMessage } from '../../bundle/docker-engine.js';

/** A config JSON is small; layers are not looked into. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** True when the committed image's ContainerConfig carries variables the task image's Config does not. */
export function leaksContainerEnv(committed: Docker.ImageInspectInfo): boolean {
  const kept = new Set(committed.Config?.Env ?? []);
  const stored = (committed as { ContainerConfig?: { Env?: string[] | null } }).ContainerConfig?.Env ?? [];
  return stored.some((e) => e.includes('=') && !kept.has(e));
}

/**
 * Replaces image `ref` by the same image without `container_config`; returns
 * the new image ID. On failure `ref` is left as it was (the caller removes it).
 */
export async function scrubContainerConfig(docker: Docker, ref: string, signal: AbortSignal): Promise<string> {
  const old = await docker.getImage(ref).inspect({ abortSignal: signal } as object);
  // dockerode's image.get() takes no abort signal: dial it with one
  const saved = await new Promise<Readable>((resolve, reject) =>
    docker.modem.dial({ path: `/images/${encodeURIComponent(ref)}/get`, method: 'GET', isStream: true, abortSignal: signal, statusCodes: { 200: true, 404: 'no such image', 500: 'server error' } } as never, (err: unknown, data: unknown) =>
      err ? reject(err) : resolve(data as Readable),
    ),
  );
  const extract = tar.extract();
  const pack = tar.pack();
  let rewritten = 0;
  extract.on('entry', (header, stream, next) => {
    if (header.type !== 'file' || (header.size ?? 0) > MAX_CONFIG_BYTES || header.name.endsWith('layer.tar')) {
      stream.pipe(pack.entry(header, next));
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c) => chunks.push(c as Buffer));
    stream.on('end', () => {
      let body = Buffer.concat(chunks);
      const config = imageConfig(body);
      if (config) {
        delete config.container_config;
        delete config.container;
        body = Buffer.from(JSON.stringify(config));
        rewritten++;
      }
      pack.entry({ ...header, size: body.length }, body, next);
    });
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (err) => pack.destroy(err));
  saved.on('error', (err) => extract.destroy(err));
  saved.pipe(extract);

  let response: NodeJS.ReadableStream;
  try {
    response = await docker.loadImage(pack as unknown as NodeJS.ReadableStream, { quiet: true, abortSignal: signal } as object);
  } catch (err) {
    saved.destroy();
    throw new Error(`docker load of the rewritten snapshot failed: ${dockerMessage(err)}`);
  }
  let text = '';
  for await (const chunk of response as AsyncIterable<Buffer | string>) text += chunk.toString();
  // the engine answers 200 and then a JSON line with "error" when the archive is bad
  const failed = text.split(/\r?\n/).find((line) => /"error(Detail)?"\s*:/.test(line));
  if (failed) throw new Error(`docker load of the rewritten snapshot failed: ${failed}`);
  if (rewritten !== 1) throw new Error(`the saved snapshot had ${rewritten} image configs, expected 1`);
  const now = await docker.getImage(ref).inspect({ abortSignal: signal } as object);
  if (now.Id === old.Id) throw new Error('docker load did not replace the committed snapshot');
  // the tag has moved to the rewritten image: the committed one (with the env) goes
  await docker.getImage(old.Id).remove({ noprune: true, abortSignal: signal } as object);
  return now.Id;
}

/** The entry's JSON when it is an image config (it has a layer rootfs), else undefined. */
function imageConfig(body: Buffer): Record<string, unknown> | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    return json && typeof json === 'object' && !Array.isArray(json) && (json.rootfs as { type?: string } | undefined)?.type === 'layers' ? json : undefined;
  } catch {
    return undefined;
  }
}
