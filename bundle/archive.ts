/**
 * The docker-archive format (what `docker save` writes and `docker load`
 * reads): `manifest.json`, the image config `<id>.json`, and one
 * `<diffid>/layer.tar` per layer. The config is serialised with a fixed key
 * order and fixed timestamps, so its sha256, the image ID, depends on the
 * layer contents only.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { addFileEntry, type LayerInfo } from './layer.js';
import type { Platform } from './platform.js';

export interface ImageLayer extends LayerInfo {
  /** runtime, dependencies or app: written into the image history so `docker history` explains itself. */
  name: string;
}

export interface ImageSpec {
  platform: Platform;
  layers: ImageLayer[];
  env: string[];
  labels: Record<string, string>;
  volumes: string[];
  /** Seconds since 1970 for `created` (the build epoch, not the wall clock). */
  epoch: number;
}

export interface ImageConfig {
  bytes: Buffer;
  /** `sha256:<hex>`: what Docker reports as the image ID. */
  id: string;
}

export function imageConfig(spec: ImageSpec): ImageConfig {
  const created = new Date(spec.epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const sortedLabels = Object.fromEntries(Object.entries(spec.labels).sort(([a], [b]) => (a < b ? -1 : 1)));
  const config = {
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    created,
    config: {
      Env: spec.env,
      Labels: sortedLabels,
      Volumes: Object.fromEntries(spec.volumes.map((v) => [v, {}])),
    },
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.digest) },
    history: spec.layers.map((l) => ({ created, created_by: `agentix build: ${l.name} layer` })),
  };
  const bytes = Buffer.from(JSON.stringify(config));
  return { bytes, id: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

/** Streams the archive; `repoTags` may be empty (an untagged image). */
export function archiveStream(spec: ImageSpec, config: ImageConfig, repoTags: string[]): Readable {
  const pack = tar.pack();
  const hex = (d: string) => d.replace(/^sha256:/, '');
  const configName = `${hex(config.id)}.json`;
  const manifest = [{ Config: configName, RepoTags: repoTags, Layers: spec.layers.map((l) => `${hex(l.digest)}/layer.tar`) }];
  const mtime = new Date(spec.epoch * 1000);
  const header = (name: string, size: number) => ({ name, size, mtime, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', type: 'file' as const });

  (async () => {
    const seen = new Set<string>();
    for (const l of spec.layers) {
      const name = `${hex(l.digest)}/layer.tar`;
      if (seen.has(name)) continue; // two identical layers are stored once
      seen.add(name);
      // (handles the reader going away mid-entry: see addFileEntry)
      await addFileEntry(pack, header(name, l.size), l.file);
    }
    await new Promise<void>((resolve, reject) => pack.entry(header(configName, config.bytes.length), config.bytes, (e) => (e ? reject(e) : resolve())));
    const m = Buffer.from(JSON.stringify(manifest));
    await new Promise<void>((resolve, reject) => pack.entry(header('manifest.json', m.length), m, (e) => (e ? reject(e) : resolve())));
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  // tar-stream's streamx Readable pipes like a Node one
  return pack as unknown as Readable;
}
