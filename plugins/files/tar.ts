/**
 * Tar in and out of a directory for files.upload / files.download, with
 * tar-stream. Extraction refuses any entry that would land, or link, outside
 * the target directory; packing walks the tree in sorted order so the same
 * tree gives the same archive.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { chmod, link, lstat, mkdir, readdir, readFile, readlink, rm, rmdir, symlink, utimes, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { extract, pack, type Header } from 'tar-stream';
import { codeError, followTarget, isInside, realLocation } from './root.js';

export interface ExtractSummary {
  files: number;
  bytes: number;
}

function escapeError(entry: string, dir: string, why: string): Error {
  return Object.assign(new Error(`tar entry "${entry}" escapes the upload directory "${dir}": ${why}`), { code: 'EOUTSIDE', entry });
}

/**
 * The entry's path as segments under the target directory; throws for an
 * absolute name or any `..` segment (even a harmless-looking `a/../b`: an
 * archive that needs one was not made for this).
 */
function entrySegments(name: string, dir: string, what = 'its name'): string[] {
  if (name.startsWith('/')) throw escapeError(name, dir, `${what} is an absolute path`);
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw escapeError(name, dir, `${what} contains ".."`);
  return segments;
}

function entriesOf(tar: Uint8Array) {
  const ex = extract();
  ex.end(Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength));
  return ex;
}

const SUPPORTED = new Set<string>(['file', 'contiguous-file', 'directory', 'symlink', 'link']);

function unsupported(h: Header): Error {
  return codeError('EUNSUPPORTED', `tar entry "${h.name}": type ${h.type} is not supported (only files, directories, symlinks and hard links)`);
}

/** Lexical checks of every entry before anything is written, so a bad archive usually changes nothing. */
async function precheck(tar: Uint8Array, dir: string): Promise<void> {
  for await (const entry of entriesOf(tar)) {
    const h = entry.header;
    entry.resume();
    const segments = entrySegments(h.name, dir);
    if (!SUPPORTED.has(h.type)) throw unsupported(h);
    if (h.type === 'link') entrySegments(h.linkname ?? '', dir, 'its hard link target');
    if (h.type === 'symlink') {
      const target = h.linkname ?? '';
      const from = resolve(dir, ...segments.slice(0, -1));
      if (!isInside(resolve(from, target), dir)) throw escapeError(h.name, dir, `it is a symlink to "${target}"`);
    }
  }
}

/**
 * Extracts `tar` into the existing directory `dir` (a real path). Existing
 * files are replaced; an existing symlink at an entry's place is replaced,
 * never written through. Modes and mtimes are kept.
 */
export async function extractInto(dir: string, tar: Uint8Array): Promise<ExtractSummary> {
  await precheck(tar, dir);
  let files = 0;
  let bytes = 0;
  const dirs: { path: string; mode: number; mtime?: Date }[] = [];

  for await (const entry of entriesOf(tar)) {
    const h = entry.header as Header;
    const segments = entrySegments(h.name, dir);
    if (segments.length === 0) {
      entry.resume(); // the archive's own root ("./"): the target directory already exists
      continue;
    }
    // The parent's real location, so an earlier entry (a symlink to elsewhere) cannot redirect this one.
    const parent = await realLocation(join(dir, ...segments.slice(0, -1)));
    if (!isInside(parent, dir)) {
      entry.resume();
      throw escapeError(h.name, dir, 'a directory on its way is a symlink that leads outside');
    }
    const target = join(parent, segments[segments.length - 1]!);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const existing = await lstat(target).catch(() => undefined);

    switch (h.type) {
      case 'directory': {
        entry.resume();
        if (existing && !existing.isDirectory()) await rm(target, { force: true });
        await mkdir(target, { recursive: true });
        // Applied at the end: a read-only directory must still receive its children first.
        dirs.push({ path: target, mode, mtime: h.mtime });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        const data = await readAll(entry);
        await mkdir(parent, { recursive: true });
        if (existing) await clearFor(target, existing, h.name);
        await writeFile(target, data, { mode });
        await chmod(target, mode); // writeFile's mode passes through the umask
        if (h.mtime) await utimes(target, h.mtime, h.mtime);
        files++;
        bytes += data.length;
        break;
      }
      case 'symlink': {
        entry.resume();
        const linkname = h.linkname ?? '';
        // As the kernel will follow it (`..` after a symlink already in `dir` included).
        const pointsTo = await followTarget(parent, linkname);
        if (!isInside(pointsTo, dir)) throw escapeError(h.name, dir, `it is a symlink to "${linkname}"`);
        await mkdir(parent, { recursive: true });
        if (existing) await clearFor(target, existing, h.name);
        await symlink(linkname, target);
        break;
      }
      case 'link': {
        entry.resume();
        const source = await realLocation(join(dir, ...entrySegments(h.linkname ?? '', dir, 'its hard link target')));
        if (!isInside(source, dir)) throw escapeError(h.name, dir, `it is a hard link to "${h.linkname}"`);
        await mkdir(parent, { recursive: true });
        if (existing) await clearFor(target, existing, h.name);
        await link(source, target);
        files++;
        break;
      }
      default:
        entry.resume();
        throw unsupported(h);
    }
  }

  // Deepest first, so a directory's mtime is set after its children changed it.
  dirs.sort((a, b) => b.path.length - a.path.length);
  for (const d of dirs) {
    await chmod(d.path, d.mode);
    if (d.mtime) await utimes(d.path, d.mtime, d.mtime);
  }
  return { files, bytes };
}

async function readAll(entry: AsyncIterable<unknown>): Promise<Uint8Array> {
  return concat(await collect(entry));
}

async function collect(source: AsyncIterable<unknown>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk as Uint8Array);
  return chunks;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * A tar of everything under `dir` (not `dir` itself), names relative to it,
 * directories as `name/`. Entries in sorted order, owner 0:0, so the same tree
 * gives the same bytes. Symlinks are stored as links (never followed); hard
 * links as separate files; sockets, fifos and devices are skipped.
 */
export async function packTree(dir: string, maxBytes = Infinity, tooLarge?: () => Error): Promise<Uint8Array> {
  const p = pack();
  // Read concurrently with writing, so the pack never stalls on its own buffer.
  const output = collect(p);
  // What the archive holds so far (headers and padding included: 512-byte blocks).
  let size = 0;
  const add = (header: Parameters<typeof p.entry>[0], data?: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      size += 512 + Math.ceil((data?.length ?? 0) / 512) * 512;
      if (size > maxBytes) {
        reject(tooLarge?.() ?? new Error(`the archive grows past ${maxBytes} bytes`));
        return;
      }
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data) p.entry(header, data, done);
      else p.entry(header, done);
    });

  const walk = async (abs: string, rel: string): Promise<void> => {
    const names = (await readdir(abs)).sort();
    for (const name of names) {
      const path = join(abs, name);
      const entryName = rel ? `${rel}/${name}` : name;
      const st = await lstat(path);
      const common = { mode: st.mode & 0o7777, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000), uid: 0, gid: 0 };
      if (st.isDirectory()) {
        await add({ ...common, name: `${entryName}/`, type: 'directory' });
        await walk(path, entryName);
      } else if (st.isFile()) {
        // Checked before reading, so one huge file is never read into memory at all.
        if (size + 512 + st.size > maxBytes) throw tooLarge?.() ?? new Error(`the archive grows past ${maxBytes} bytes`);
        const buf = await readFile(path);
        const data = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        await add({ ...common, name: entryName, type: 'file', size: data.length }, data);
      } else if (st.isSymbolicLink()) {
        await add({ ...common, name: entryName, type: 'symlink', linkname: await readlink(path) });
      }
    }
  };

  try {
    await walk(dir, '');
  } catch (err) {
    output.catch(() => undefined);
    p.destroy();
    throw err;
  }
  p.finalize();
  return concat(await output);
}

/**
 * Makes room for an entry where something already is. An empty directory may
 * go (as tar does); a directory with contents is refused rather than deleted:
 * an upload must never wipe a tree by accident.
 */
async function clearFor(target: string, existing: Stats, name: string): Promise<void> {
  if (!existing.isDirectory()) return rm(target, { force: true });
  try {
    await rmdir(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw codeError('EEXIST', `tar entry "${name}" would replace the non-empty directory "${target}"; remove it first`);
  }
}
