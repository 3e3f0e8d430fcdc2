/**
 * Writes one image layer as a plain tar, deterministically: entries sorted by
 * path, every parent directory present, uid/gid 0, no user names, one fixed
 * mtime, modes normalised to 0755/0644. The same entries give the same bytes,
 * so the same digest, so (with a fixed config) the same image ID.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { posix } from 'node:path';
import tar from 'tar-stream';

export type LayerEntry =
  | { kind: 'file'; path: string; source: string; executable?: boolean }
  | { kind: 'data'; path: string; data: Buffer | string; executable?: boolean }
  | { kind: 'symlink'; path: string; target: string };

export interface LayerInfo {
  /** `sha256:<hex>` of the uncompressed tar: the layer's diff ID. */
  digest: string;
  size: number;
  file: string;
}

/** Fixed timestamp for every entry: SOURCE_DATE_EPOCH when set (reproducible-builds.org convention), else 0. */
export function buildEpoch(): number {
  const raw = process.env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw)) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

export async function writeLayer(entries: LayerEntry[], outFile: string, epoch = buildEpoch()): Promise<LayerInfo> {
  const mtime = new Date(epoch * 1000);
  const byPath = new Map<string, LayerEntry>();
  for (const e of entries) {
    const p = normalise(e.path);
    if (byPath.has(p)) throw new Error(`layer ${outFile}: ${p} added twice`);
    byPath.set(p, { ...e, path: p });
  }
  const dirs = new Set<string>();
  for (const p of byPath.keys()) {
    for (let d = posix.dirname(p); d !== '.' && d !== '/'; d = posix.dirname(d)) dirs.add(d);
  }
  for (const d of dirs) if (byPath.has(d)) throw new Error(`layer ${outFile}: ${d} is both a directory and a file`);
  // Directory entries carry a trailing slash; sorting plain paths puts a directory right before its contents.
  const names = [...dirs, ...byPath.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  const pack = tar.pack();
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const written = pipeline(pack as unknown as NodeJS.ReadableStream, tap, createWriteStream(outFile));
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime };
  try {
    for (const name of names) {
      const e = byPath.get(name);
      if (!e) {
        await addEntry(pack, { ...base, name: `${name}/`, type: 'directory', mode: 0o755 });
      } else if (e.kind === 'symlink') {
        await addEntry(pack, { ...base, name, type: 'symlink', linkname: e.target, mode: 0o777 });
      } else if (e.kind === 'data') {
        const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
        await addEntry(pack, { ...base, name, type: 'file', mode: e.executable ? 0o755 : 0o644, size: data.length }, data);
      } else {
        const st = statSync(e.source);
        const executable = e.executable ?? (st.mode & 0o111) !== 0;
        const header = { ...base, name, type: 'file' as const, mode: executable ? 0o755 : 0o644, size: st.size };
        await addFileEntry(pack, header, e.source);
      }
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => undefined);
    throw err;
  }
  await written;
  return { digest: `sha256:${hash.digest('hex')}`, size, file: outFile };
}

/**
 * Streams `file` into the pack as one entry. When the pack's reader goes away
 * (a docker load whose connection drops, a full disk) the pack destroys the
 * entry with that error: without a listener the 'error' was uncaught and
 * killed the process, and the file stayed open. Both are handled here.
 */
export function addFileEntry(pack: tar.Pack, header: Parameters<tar.Pack['entry']>[0], file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The entry first: on an archive already destroyed (its reader went away) entry() throws, and a file
    // opened before it would stay open.
    let source: ReturnType<typeof createReadStream> | undefined;
    const fail = (err: Error) => {
      source?.destroy();
      reject(err);
    };
    const sink = pack.entry(header, (err) => (err ? fail(err) : resolve()));
    source = createReadStream(file);
    sink.on('error', fail);
    // An entry destroyed with the archive may close without an error of its own: the file goes with it.
    sink.on('close', () => source?.destroy());
    source.on('error', fail);
    source.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

function addEntry(pack: tar.Pack, header: Parameters<tar.Pack['entry']>[0], data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (data) pack.entry(header, data, (err) => (err ? reject(err) : resolve()));
    else pack.entry(header, (err) => (err ? reject(err) : resolve())).end(undefined);
  });
}

/** `/nix/x` and `nix/x` both become `nix/x`; `..` and empty names are refused. */
function normalise(p: string): string {
  const n = posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
  if (!n || n === '.' || n.split('/').includes('..')) throw new Error(`invalid path in layer: ${JSON.stringify(p)}`);
  return n;
}
