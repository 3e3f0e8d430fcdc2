/**
 * The built-in `files` plugin: read, write, list and move whole trees of
 * files inside the sandbox.
 *
 *   const bytes = await remote.files.read('src/app.ts')
 *   await remote.files.write('notes/today.txt', 'hello')   // creates notes/
 *   await remote.files.upload('repo', tarBytes)
 *
 * Every path is confined to the files root: `AGENTIX_FILES_ROOT`, default
 * the runtime's working directory (the task image's working directory).
 * Relative paths resolve against it; absolute paths must lie inside it;
 * anything that leads out (`..`, an absolute path elsewhere, a symlink
 * pointing outside) fails with code `EOUTSIDE`. Paths are walked one
 * component at a time through directory handles (walk.ts), so a symlink
 * swapped in meanwhile does not lead out either.
 *
 * This module is compiled as plugin entry: every export is a remote target
 * (`files.read`, `files.write`, ...), so it exports only those functions and
 * the plain-data types of their signatures. See docs/plugins.md.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, readdir, readlink } from 'node:fs/promises';
import { currentSignal } from '../../runtime/sandbox-api.js';
import { DEFAULT_MAX_PAYLOAD } from '../../runtime/wire/limits.js';
import { codeError, outsideError } from '../errors.js';
import { fchmod, ftruncate, readBounded, reopen, withFd, writeAll } from './io.js';
import { filesRoot, openRoot, rootSegments, type FilesRoot } from './root.js';
import { extractInto, packTree } from './tar.js';
import { fdPath, open, type Leaf, type Tree } from './walk.js';

export interface WriteOptions {
  /** Permission bits, e.g. 0o755 (applied also when the file already existed). Default: 0o644 for a new file. */
  mode?: number;
  /** Create missing parent directories (default true); false: a missing directory is an error (ENOENT). */
  mkdirs?: boolean;
}

export interface WriteResult {
  bytes: number;
}

export interface DirEntry {
  name: string;
  /** What the entry itself is; a symlink is not followed. */
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  mtimeMs: number;
}

export interface UploadResult {
  /** Regular files (and hard links) written. */
  files: number;
  /** Bytes of file content written (a hard link adds none). */
  bytes: number;
}

const { O_WRONLY, O_CREAT, O_NOFOLLOW } = constants;

/**
 * The whole content of a file. Bounded by the runtime's message limit
 * while reading, whatever the file's size claims.
 */
export async function read(path: string): Promise<Uint8Array> {
  const limit = maxPayload();
  const signal = currentSignal();
  return inRoot('read', path, async (tree, root) => {
    const leaf = await tree.resolve(rootSegments(path, root), follow(path, root, 'fail', signal));
    const { entry } = leaf;
    if (entry.kind === 'missing') throw codeError('ENOENT', `path "${path}" does not exist`);
    if (entry.kind === 'dir') throw codeError('EISDIR', `path "${path}" is a directory (use files.list or files.download)`);
    // A fifo or a device could block or never end: only regular files.
    if (entry.kind !== 'file') throw codeError('EINVAL', `path "${path}" is not a regular file`);
    // The result could not be sent anyway: fail before holding the whole file (and its
    // encoded copy) in the worker's memory, which for a large file can take the worker down.
    const tooLarge = (size?: number) => () =>
      codeError('PAYLOAD_TOO_LARGE', `file "${path}" is ${size === undefined ? 'larger than' : `${size} bytes, more than`} the runtime's message limit of ${limit} bytes (AGENTIX_MAX_PAYLOAD); read it in parts with bash.run (e.g. split), or raise the limit`);
    if (entry.stats!.size > limit) throw tooLarge(entry.stats!.size)();
    // The size is a hint only (a /proc file says 0 and never ends): the bound holds while reading.
    const buf = await withFd(await reopen(entry.fd!), (fd) => readBounded(fd, limit, tooLarge(), signal, entry.stats!.size));
    return asBytes(buf);
  });
}

/** Writes (creates or replaces) a file; a string is written as UTF-8. Missing parent directories are created. */
export async function write(path: string, data: Uint8Array | string, opts?: WriteOptions): Promise<WriteResult> {
  const o = checkOpts(opts);
  const mode = checkMode(o.mode);
  if (o.mkdirs !== undefined && o.mkdirs !== null && typeof o.mkdirs !== 'boolean') throw codeError('EINVAL', `opts.mkdirs must be true or false, got ${JSON.stringify(o.mkdirs)}`);
  const mkdirs = o.mkdirs ?? true;
  let bytes: Uint8Array;
  if (typeof data === 'string') bytes = asBytes(Buffer.from(data, 'utf8'));
  else if (data instanceof Uint8Array) bytes = data;
  else throw codeError('EINVAL', `data must be a Uint8Array or a string, got ${data === null ? 'null' : typeof data}`);
  const signal = currentSignal();

  return inRoot('write', path, async (tree, root) => {
    const leaf = await tree.resolve(rootSegments(path, root), follow(path, root, mkdirs ? 'create' : 'fail', signal)).catch((err: Error & { code?: string }) => {
      if (err.code === 'ENOENT') throw codeError('ENOENT', `cannot write "${path}": its directory does not exist (mkdirs is off)`);
      throw err;
    });
    const { entry } = leaf;
    if (leaf.name === '') throw codeError('EISDIR', `path "${path}" is a directory, not a file`);
    if (entry.kind === 'dir') throw codeError('EISDIR', `cannot write "${path}": it is a directory`);
    // Opening a fifo for writing blocks until a reader appears (forever, and it holds one
    // of libuv's four fs threads meanwhile); a device is not a file either. Only regular files.
    if (entry.kind !== 'file' && entry.kind !== 'missing') throw codeError('EINVAL', `cannot write "${path}": it is not a regular file`);
    // An existing file through its own handle (the inode that was checked); a new one in the
    // directory handle, never through a symlink that appeared meanwhile.
    const fd = entry.kind === 'file' ? await reopen(entry.fd!, O_WRONLY) : await open(fdPath(leaf.pos.dir.fd!, leaf.name), O_WRONLY | O_CREAT | O_NOFOLLOW | constants.O_NONBLOCK, 0o666);
    await withFd(fd, async (f) => {
      await ftruncate(f, 0);
      await writeAll(f, bytes, signal);
      if (mode !== undefined) await fchmod(f, mode); // also for a file that existed, and past the umask
    });
    return { bytes: bytes.length };
  });
}

/** The entries of a directory, sorted by name. */
export async function list(dir: string): Promise<DirEntry[]> {
  const signal = currentSignal();
  return inRoot('list', dir, async (tree, root) => {
    const fd = dirHandle(await tree.resolve(rootSegments(dir, root), follow(dir, root, 'fail', signal)), dir);
    const names = (await readdir(fdPath(fd))).sort();
    const entries: DirEntry[] = [];
    for (const name of names) {
      const st = await lstat(fdPath(fd, name)).catch(() => undefined);
      if (!st) continue; // removed while we listed
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      entries.push({ name, type, size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
    }
    return entries;
  });
}

/**
 * Extracts a tar archive into `dir` (created if missing). Entries that would
 * land or link outside `dir` (`..`, absolute names, symlinks or hard links
 * pointing out) are refused with code EOUTSIDE; a refused archive writes
 * nothing. Cancelling the call (or its deadline) stops the extraction.
 */
export async function upload(dir: string, tar: Uint8Array): Promise<UploadResult> {
  if (!(tar instanceof Uint8Array)) throw codeError('EINVAL', `tar must be a Uint8Array (the bytes of a tar archive), got ${tar === null ? 'null' : typeof tar}`);
  const signal = currentSignal();
  return inRoot('upload into', dir, async (tree, root) => {
    const leaf = await tree.resolve(rootSegments(dir, root), follow(dir, root, 'create', signal));
    if (leaf.entry.kind === 'missing') await mkdirAt(leaf);
    else if (leaf.entry.kind !== 'dir') throw codeError('ENOTDIR', `path "${dir}" exists and is not a directory`);
    const target = await tree.resolve(rootSegments(dir, root), follow(dir, root, 'fail', signal));
    const fd = dirHandle(target, dir);
    const real = await realPathOf(fd);
    const sub = await tree.subtree(fd, [real]);
    try {
      return await extractInto(sub, tar, { label: real, signal });
    } catch (err) {
      if ((err as { code?: unknown }).code === undefined && !(err as Error).message.startsWith('tar entry')) {
        throw Object.assign(new Error(`cannot extract the tar into "${dir}": ${(err as Error).message}`), { code: 'EBADTAR' });
      }
      throw err;
    } finally {
      await sub.close();
    }
  });
}

/** A tar archive of everything under `dir` (names relative to it), in a deterministic order. */
export async function download(dir: string): Promise<Uint8Array> {
  const signal = currentSignal();
  return inRoot('download', dir, async (tree, root) => {
    const leaf = await tree.resolve(rootSegments(dir, root), follow(dir, root, 'fail', signal));
    if (leaf.entry.kind === 'missing') throw codeError('ENOENT', `path "${dir}" does not exist`);
    if (leaf.entry.kind !== 'dir') throw codeError('ENOTDIR', `path "${dir}" is not a directory (use files.read for a file)`);
    const limit = maxPayload();
    // The archive is built in memory: stop as soon as it cannot be sent, instead of first
    // reading a tree of any size (a checkout with its build outputs) into the worker.
    return packTree(tree, dirHandle(leaf, dir), {
      maxBytes: limit,
      tooLarge: () => codeError('PAYLOAD_TOO_LARGE', `the tar of directory "${dir}" grows past the runtime's message limit of ${limit} bytes (AGENTIX_MAX_PAYLOAD); download its subdirectories one by one, or raise the limit`),
      signal,
    });
  });
}

// ---- helpers (not exported: only the functions above are remote targets) ----

/** The runtime's message limit (the worker gets it as AGENTIX_MAX_PAYLOAD), read per call like the root. */
function maxPayload(): number {
  const configured = Number(process.env.AGENTIX_MAX_PAYLOAD);
  return Number.isFinite(configured) && configured > 0 ? configured : DEFAULT_MAX_PAYLOAD;
}

/** Runs `fn` with the root open, every handle closed afterwards. */
async function inRoot<T>(what: string, path: unknown, fn: (tree: Tree, root: FilesRoot) => Promise<T>): Promise<T> {
  const root = await filesRoot();
  const tree = await openRoot(root);
  try {
    return await fn(tree, root);
  } catch (err) {
    throw callerError(err, what, path);
  } finally {
    await tree.close();
  }
}

/**
 * A system call's error as the caller should see it: their path, not the
 * /proc/self/fd path the call went through. Our own errors pass as they are.
 */
function callerError(err: unknown, what: string, path: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof e.syscall !== 'string' || typeof e.code !== 'string') return err;
  // "EACCES: permission denied, open '/proc/self/fd/23/x'" → "EACCES: permission denied"
  const why = e.message.replace(/, \w+ '[^']*'( -> '[^']*')?$/, '');
  if (e.code === 'ELOOP') return codeError('ERACE', `cannot ${what} "${String(path)}": it was replaced by a symlink meanwhile; try again`);
  return codeError(e.code, `cannot ${what} "${String(path)}": ${why}`);
}

/** How the entry points resolve a caller's path: following symlinks while they stay inside the root. */
function follow(path: string, root: FilesRoot, missing: 'fail' | 'create', signal: AbortSignal) {
  return { followLast: true, missing, path, signal, outside: () => outsideError(path, root.configured) };
}

/** The handle of the directory a leaf names, or ENOENT / ENOTDIR. */
function dirHandle(leaf: Leaf, path: string): number {
  if (leaf.name === '') return leaf.pos.dir.fd!;
  if (leaf.entry.kind === 'missing') throw codeError('ENOENT', `path "${path}" does not exist`);
  if (leaf.entry.kind !== 'dir') throw codeError('ENOTDIR', `path "${path}" is not a directory`);
  return leaf.entry.fd!;
}

async function mkdirAt(leaf: Leaf): Promise<void> {
  await mkdir(fdPath(leaf.pos.dir.fd!, leaf.name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

/** Where a directory handle really is (for messages and absolute symlink targets). */
async function realPathOf(fd: number): Promise<string> {
  return readlink(fdPath(fd));
}

function checkOpts<T extends object>(opts: T | undefined): Partial<T> {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || Array.isArray(opts)) throw codeError('EINVAL', 'opts must be an object');
  return opts;
}


/**
 * A plain Uint8Array view of a Buffer's bytes (no copy): what the signature
 * promises, and it travels as msgpack bin all the same.
 */
function asBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkMode(mode: unknown): number | undefined {
  if (mode === undefined || mode === null) return undefined;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw codeError('EINVAL', `opts.mode must be permission bits between 0 and 0o7777, got ${String(mode)}`);
  }
  return mode;
}
