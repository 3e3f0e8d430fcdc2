/**
 * Tar in and out of a directory for files.upload / files.download, with
 * tar-stream, through directory handles (walk.ts).
 *
 * Upload takes two passes over the archive. The first writes nothing: it
 * checks every entry — its name, its type, where it and its link target
 * lead, what it would replace — against the directory as it is plus what
 * the earlier entries are about to create (an overlay), so an archive that
 * is refused has changed nothing. The second pass writes, resolving each
 * entry again from the directory's handle.
 *
 * Download walks the tree in sorted order, never following a symlink, so
 * the same tree gives the same archive.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { constants } from 'node:fs';
import { readdir, rm, rmdir, symlink, link, chmod, utimes, mkdir } from 'node:fs/promises';
import { extract, pack, type Header } from 'tar-stream';
import { abortError, codeError } from '../errors.js';
import { fchmod, futimes, readBounded, reopen, withFd, writeAll } from './io.js';
import { fdPath, open, placeKey, type Entry, type Leaf, type Pos, type ResolveOptions, type Tree } from './walk.js';

export interface ExtractSummary {
  files: number;
  bytes: number;
}

/** Deeper than this, download stops (each level holds a handle while its subtree is packed). */
const MAX_PACK_DEPTH = 1024;
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

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

export interface ExtractOptions {
  /** The upload directory's real path, for messages. */
  label: string;
  signal?: AbortSignal;
}

/**
 * Extracts `tar` into the base of `tree` (the upload directory). Existing
 * files are replaced; an existing symlink at an entry's place is replaced,
 * never written through. Modes and mtimes are kept.
 */
export async function extractInto(tree: Tree, tar: Uint8Array, opts: ExtractOptions): Promise<ExtractSummary> {
  await validate(tree, tar, opts);
  return write(tree, tar, opts);
}

/** Directories an entry was put into, by identity (disk) or place (planned): these are not empty. */
type Filled = Set<string>;

function parentKey(pos: Pos): string {
  if (pos.virtual.length === 0) return `=${pos.dir.ident}`;
  return placeKey({ dir: pos.dir, virtual: pos.virtual.slice(0, -1) }, pos.virtual[pos.virtual.length - 1]!);
}

/** Whether the directory at a leaf has entries, on disk or planned. */
async function nonEmptyDir(leaf: Leaf, filled: Filled): Promise<boolean> {
  const { entry } = leaf;
  if (entry.fd !== undefined) return filled.has(`=${entry.ident}`) || (await readdir(fdPath(entry.fd))).length > 0;
  return filled.has(placeKey(leaf.pos, leaf.name));
}

/**
 * The directory an entry goes into, resolved once for a run of entries in
 * the same directory (an archive lists a directory's entries together): a
 * tree of 40,000 files resolves each parent once, not once per file. An
 * entry at a place on the cached path (it may replace a directory there
 * with a symlink) drops the cache.
 */
class Parents {
  private key: string | undefined;
  private pos: Pos | undefined;

  constructor(private readonly tree: Tree) {}

  async get(segments: string[], opts: ResolveOptions): Promise<Pos> {
    const key = segments.join('/');
    if (this.pos && key === this.key) return this.pos;
    await this.drop();
    // A trailing "." makes the last name a directory to enter (following a symlink, creating it when missing).
    const leaf = await this.tree.resolve([...segments, '.'], opts);
    this.key = key;
    this.pos = leaf.pos;
    return leaf.pos;
  }

  /** `path` (an entry's) is about to change: a cached directory at or below it may no longer be what it was. */
  async changing(path: string): Promise<void> {
    if (this.key !== undefined && (this.key === path || this.key.startsWith(`${path}/`))) await this.drop();
  }

  async drop(): Promise<void> {
    if (this.pos && this.pos.dir !== this.tree.base) await this.tree.release(this.pos.dir.fd);
    this.pos = undefined;
    this.key = undefined;
  }
}

/** An entry's place: its directory (cached) and what is there now. */
async function placeOf(tree: Tree, parents: Parents, segments: string[], opts: ResolveOptions): Promise<Leaf> {
  const name = segments[segments.length - 1]!;
  await parents.changing(segments.join('/'));
  const pos = await parents.get(segments.slice(0, -1), opts);
  return { pos, name, entry: await tree.lookup(pos, name, opts.overlay) };
}

interface Checks {
  /** What earlier entries will have created, by place (walk.ts placeKey). */
  overlay: Map<string, Entry>;
  filled: Filled;
  parents: Parents;
}

/** The first pass: throws for the first entry that would be refused, having written nothing. */
async function validate(tree: Tree, tar: Uint8Array, opts: ExtractOptions): Promise<void> {
  const checks: Checks = { overlay: new Map(), filled: new Set(), parents: new Parents(tree) };
  try {
    for await (const entry of entriesOf(tar)) {
      entry.resume();
      if (opts.signal?.aborted) throw abortError(opts.signal);
      await checkEntry(tree, entry.header, checks, opts);
    }
  } finally {
    await checks.parents.drop();
  }
}

/** Checks one entry against the directory as it will be by then, and records what it will create. */
async function checkEntry(tree: Tree, h: Header, checks: Checks, opts: ExtractOptions): Promise<void> {
  const dir = opts.label;
  const { overlay, filled } = checks;
  const segments = entrySegments(h.name, dir);
  if (!SUPPORTED.has(h.type)) throw unsupported(h);
  if (segments.length === 0) return; // the archive's own root ("./"): the directory exists
  const resolveOpts = { missing: 'virtual' as const, signal: opts.signal, overlay, path: h.name };
  const leaf = await placeOf(tree, checks.parents, segments, { ...resolveOpts, followLast: true, outside: () => escapeError(h.name, dir, 'a directory on its way is a symlink that leads outside') });
  try {
    const key = placeKey(leaf.pos, leaf.name);
    const here = leaf.entry.kind;
    if (h.type !== 'directory' && here === 'dir' && (await nonEmptyDir(leaf, filled))) throw nonEmptyError(h.name, leaf.name);
    let planned: Entry = { kind: 'file' };
    if (h.type === 'directory') planned = { kind: 'dir' };
    else if (h.type === 'symlink') {
      const target = h.linkname ?? '';
      planned = { kind: 'symlink', target };
      // Where it leads as the kernel will follow it: put it in the overlay and follow it from there.
      overlay.set(key, planned);
      await tree.done(await tree.resolve(segments, { ...resolveOpts, followLast: true, outside: () => escapeError(h.name, dir, `it is a symlink to "${target}"`) }));
    } else if (h.type === 'link') {
      const source = await tree.resolve(entrySegments(h.linkname ?? '', dir, 'its hard link target'), {
        ...resolveOpts,
        path: h.linkname ?? '',
        followLast: true,
        outside: () => escapeError(h.name, dir, `it is a hard link to "${h.linkname}"`),
      });
      await tree.done(source);
      if (source.entry.kind !== 'file') throw codeError('EBADTAR', `tar entry "${h.name}": its hard link target "${h.linkname}" is ${source.entry.kind === 'missing' ? 'not in the directory or the archive' : 'not a regular file'}`);
    }
    // A directory entry where a directory is changes nothing.
    if (!(h.type === 'directory' && here === 'dir')) overlay.set(key, planned);
    filled.add(parentKey(leaf.pos));
  } finally {
    await tree.release(leaf.entry.fd);
  }
}

function nonEmptyError(name: string, leafName: string): Error {
  return codeError('EEXIST', `tar entry "${name}" would replace the non-empty directory "${leafName}"; remove it first`);
}

/** The second pass: writes every entry (all were checked by validate()). */
async function write(tree: Tree, tar: Uint8Array, opts: ExtractOptions): Promise<ExtractSummary> {
  const dir = opts.label;
  let files = 0;
  let bytes = 0;
  const dirs: { segments: string[]; mode: number; mtime?: Date }[] = [];
  const outside = (name: string) => () => escapeError(name, dir, 'a directory on its way is a symlink that leads outside');
  const parents = new Parents(tree);

  for await (const entry of entriesOf(tar)) {
    const h = entry.header as Header;
    if (opts.signal?.aborted) {
      entry.resume();
      throw abortError(opts.signal);
    }
    const segments = entrySegments(h.name, dir);
    if (segments.length === 0) {
      entry.resume();
      continue;
    }
    const data = h.type === 'file' || h.type === 'contiguous-file' ? await readAll(entry) : (entry.resume(), undefined);
    const leaf = await placeOf(tree, parents, segments, { followLast: true, missing: 'create', outside: outside(h.name), path: h.name, signal: opts.signal });
    const parent = leaf.pos.dir.fd!;
    const place = fdPath(parent, leaf.name);
    const mode = (h.mode ?? 0o644) & 0o7777;
    switch (h.type) {
      case 'directory':
        if (leaf.entry.kind !== 'dir') {
          if (leaf.entry.kind !== 'missing') await rm(place, { force: true });
          await mkdir(place);
        }
        // Applied at the end: a read-only directory must still receive its children first.
        dirs.push({ segments, mode, mtime: h.mtime });
        break;
      case 'file':
      case 'contiguous-file': {
        await clearFor(place, leaf.entry, h.name);
        await withFd(await open(place, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode), async (fd) => {
          await writeAll(fd, data!, opts.signal);
          await fchmod(fd, mode); // the mode given to open passes through the umask
          if (h.mtime) await futimes(fd, h.mtime, h.mtime);
        });
        files++;
        bytes += data!.length;
        break;
      }
      case 'symlink':
        await clearFor(place, leaf.entry, h.name);
        await symlink(h.linkname ?? '', place);
        break;
      case 'link': {
        const source = await tree.resolve(entrySegments(h.linkname ?? '', dir, 'its hard link target'), {
          followLast: true,
          missing: 'fail',
          outside: () => escapeError(h.name, dir, `it is a hard link to "${h.linkname}"`),
          path: h.linkname ?? '',
          signal: opts.signal,
        });
        await clearFor(place, leaf.entry, h.name);
        await link(fdPath(source.pos.dir.fd!, source.name), place);
        await tree.done(source);
        files++;
        break;
      }
      default:
        throw unsupported(h);
    }
    await tree.release(leaf.entry.fd);
  }
  await parents.drop();

  // Deepest first, so a directory's mtime is set after its children changed it.
  dirs.sort((a, b) => b.segments.length - a.segments.length);
  for (const d of dirs) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const leaf = await tree.resolve(d.segments, { followLast: false, missing: 'fail', outside: outside(d.segments.join('/')), path: d.segments.join('/'), signal: opts.signal });
    if (leaf.entry.kind === 'dir' && leaf.entry.fd !== undefined) {
      await chmod(fdPath(leaf.entry.fd), d.mode);
      if (d.mtime) await utimes(fdPath(leaf.entry.fd), d.mtime, d.mtime);
    }
    await tree.done(leaf);
  }
  return { files, bytes };
}

/**
 * Makes room for an entry where something already is. An empty directory may
 * go (as tar does); a directory with contents is refused rather than deleted:
 * an upload must never wipe a tree by accident.
 */
async function clearFor(place: string, existing: Entry, name: string): Promise<void> {
  if (existing.kind === 'missing') return;
  if (existing.kind !== 'dir') return rm(place, { force: true });
  try {
    await rmdir(place);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') throw nonEmptyError(name, place);
    throw err;
  }
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

export interface PackOptions {
  maxBytes: number;
  tooLarge: () => Error;
  signal?: AbortSignal;
}

/**
 * A tar of everything in directory handle `dirFd` (not the directory
 * itself), names relative to it, directories as `name/`. Entries in sorted
 * order, owner 0:0, so the same tree gives the same bytes. Symlinks are
 * stored as links (never followed); hard links as separate files; sockets,
 * fifos and devices are skipped. Every file is read with the bound the
 * archive has left, whatever its size claims.
 */
export async function packTree(tree: Tree, dirFd: number, opts: PackOptions): Promise<Uint8Array> {
  const { maxBytes, tooLarge, signal } = opts;
  const p = pack();
  // Read concurrently with writing, so the pack never stalls on its own buffer.
  const output = collect(p);
  // What the archive holds so far (headers and padding included: 512-byte blocks).
  let size = 0;
  const add = (header: Parameters<typeof p.entry>[0], data?: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      size += 512 + Math.ceil((data?.length ?? 0) / 512) * 512;
      if (size > maxBytes) {
        reject(tooLarge());
        return;
      }
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data) p.entry(header, data, done);
      else p.entry(header, done);
    });

  const walk = async (fd: number, rel: string, depth: number): Promise<void> => {
    if (depth > MAX_PACK_DEPTH) throw codeError('ENAMETOOLONG', `directory "${rel}" is nested more than ${MAX_PACK_DEPTH} levels deep; download it in parts`);
    const names = (await readdir(fdPath(fd))).sort();
    const here: Pos = { dir: { fd, ident: '', up: undefined }, virtual: [] };
    for (const name of names) {
      if (signal?.aborted) throw abortError(signal);
      const entryName = rel ? `${rel}/${name}` : name;
      const e = await tree.lookup(here, name);
      try {
        const st = e.stats;
        if (!st) continue; // removed while we listed
        const common = { mode: st.mode & 0o7777, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000), uid: 0, gid: 0 };
        if (e.kind === 'dir') {
          await add({ ...common, name: `${entryName}/`, type: 'directory' });
          await walk(e.fd!, entryName, depth + 1);
        } else if (e.kind === 'file') {
          // Checked before reading, so one huge file is never read into memory at all;
          // and bounded while reading, for files whose size is not what they hold.
          const room = maxBytes - size - 512;
          if (st.size > room) throw tooLarge();
          const buf = await withFd(await reopen(e.fd!), (f) => readBounded(f, room, tooLarge, signal, st.size));
          await add({ ...common, name: entryName, type: 'file', size: buf.length }, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
        } else if (e.kind === 'symlink') {
          await add({ ...common, name: entryName, type: 'symlink', linkname: e.target });
        }
      } finally {
        await tree.release(e.fd);
      }
    }
  };

  try {
    await walk(dirFd, '', 0);
  } catch (err) {
    output.catch(() => undefined);
    p.destroy();
    throw err;
  }
  p.finalize();
  return concat(await output);
}
