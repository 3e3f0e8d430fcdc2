/**
 * The built-in `files` plugin: read, write, list and move whole trees of
 * files inside the sandbox.
 *
 *   const bytes = await remote.files.read('src/app.ts')
 *   await remote.files.write('notes.txt', 'hello', { mkdirs: true })
 *   await remote.files.upload('repo', tarBytes)
 *
 * Every path is confined to the files root: `AGENTIX_FILES_ROOT`, default
 * the runtime's working directory (the task image's working directory).
 * Relative paths resolve against it; absolute paths must lie inside it;
 * anything that leads out (`..`, an absolute path elsewhere, a symlink
 * pointing outside) fails with code `EOUTSIDE`.
 *
 * This module is compiled as plugin entry: every export is a remote target
 * (`files.read`, `files.write`, ...), so it exports only those functions and
 * the plain-data types of their signatures. See docs/plugins.md.
 */
import { chmod, lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { currentSignal } from '../../runtime/context.js';
import { DEFAULT_MAX_PAYLOAD } from '../../runtime/wire/limits.js';
import { codeError, confine, filesRoot } from './root.js';
import { extractInto, packTree } from './tar.js';

export interface WriteOptions {
  /** Permission bits, e.g. 0o755 (applied also when the file already existed). Default: 0o644 for a new file. */
  mode?: number;
  /** Create missing parent directories. */
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

/** The whole content of a file. */
export async function read(path: string): Promise<Uint8Array> {
  const real = await confine(path, await filesRoot());
  const st = await stat(real).catch((err: NodeJS.ErrnoException) => {
    throw notFound(err, path);
  });
  if (st.isDirectory()) throw codeError('EISDIR', `path "${path}" is a directory (use files.list or files.download)`);
  // A fifo or a device could block or never end: only regular files.
  if (!st.isFile()) throw codeError('EINVAL', `path "${path}" is not a regular file`);
  // The result could not be sent anyway: fail before holding the whole file (and its
  // encoded copy) in the worker's memory, which for a large file can take the worker down.
  const limit = maxPayload();
  if (st.size > limit) {
    throw codeError('PAYLOAD_TOO_LARGE', `file "${path}" is ${st.size} bytes, more than the runtime's message limit of ${limit} bytes (AGENTIX_MAX_PAYLOAD); read it in parts with bash.run (e.g. split), or raise the limit`);
  }
  return asBytes(await readFile(real, { signal: currentSignal() }));
}

/** Writes (creates or replaces) a file; a string is written as UTF-8. */
export async function write(path: string, data: Uint8Array | string, opts?: WriteOptions): Promise<WriteResult> {
  const o = opts ?? {};
  if (typeof o !== 'object') throw codeError('EINVAL', 'opts must be an object');
  const mode = checkMode(o.mode);
  let bytes: Uint8Array;
  if (typeof data === 'string') bytes = asBytes(Buffer.from(data, 'utf8'));
  else if (data instanceof Uint8Array) bytes = data;
  else throw codeError('EINVAL', `data must be a Uint8Array or a string, got ${data === null ? 'null' : typeof data}`);

  const root = await filesRoot();
  const real = await confine(path, root);
  if (real === root.real) throw codeError('EISDIR', `path "${path}" is the files root itself, not a file`);
  if (o.mkdirs) await mkdir(dirname(real), { recursive: true });
  // Opening a fifo for writing blocks until a reader appears (forever, and it holds one
  // of libuv's four fs threads meanwhile); a device is not a file either. Only regular
  // files are written (replacing a symlink's target is fine: `real` already followed it).
  const existing = await stat(real).catch(() => undefined);
  if (existing && !existing.isFile() && !existing.isDirectory()) throw codeError('EINVAL', `cannot write "${path}": it is not a regular file`);
  try {
    await writeFile(real, bytes, mode === undefined ? undefined : { mode });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw codeError('ENOENT', `cannot write "${path}": its directory does not exist (pass { mkdirs: true } to create it)`);
    if (e.code === 'EISDIR') throw codeError('EISDIR', `cannot write "${path}": it is a directory`);
    throw err;
  }
  if (mode !== undefined) await chmod(real, mode); // also for a file that existed, and past the umask
  return { bytes: bytes.length };
}

/** The entries of a directory, sorted by name. */
export async function list(dir: string): Promise<DirEntry[]> {
  const real = await confine(dir, await filesRoot());
  const names = await readdir(real).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOTDIR') throw codeError('ENOTDIR', `path "${dir}" is not a directory`);
    throw notFound(err, dir);
  });
  names.sort();
  const entries: DirEntry[] = [];
  for (const name of names) {
    const st = await lstat(join(real, name)).catch(() => undefined);
    if (!st) continue; // removed while we listed
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
    entries.push({ name, type, size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
  }
  return entries;
}

/**
 * Extracts a tar archive into `dir` (created if missing). Entries that would
 * land or link outside `dir` (`..`, absolute names, symlinks or hard links
 * pointing out) are refused with code EOUTSIDE.
 */
export async function upload(dir: string, tar: Uint8Array): Promise<UploadResult> {
  if (!(tar instanceof Uint8Array)) throw codeError('EINVAL', `tar must be a Uint8Array (the bytes of a tar archive), got ${tar === null ? 'null' : typeof tar}`);
  const real = await confine(dir, await filesRoot());
  await mkdir(real, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST' || err.code === 'ENOTDIR') throw codeError('ENOTDIR', `path "${dir}" exists and is not a directory`);
    throw err;
  });
  try {
    return await extractInto(real, tar);
  } catch (err) {
    if ((err as { code?: unknown }).code === undefined && !(err as Error).message.startsWith('tar entry')) {
      throw Object.assign(new Error(`cannot extract the tar into "${dir}": ${(err as Error).message}`), { code: 'EBADTAR' });
    }
    throw err;
  }
}

/** A tar archive of everything under `dir` (names relative to it), in a deterministic order. */
export async function download(dir: string): Promise<Uint8Array> {
  const real = await confine(dir, await filesRoot());
  const st = await stat(real).catch((err: NodeJS.ErrnoException) => {
    throw notFound(err, dir);
  });
  if (!st.isDirectory()) throw codeError('ENOTDIR', `path "${dir}" is not a directory (use files.read for a file)`);
  const limit = maxPayload();
  // The archive is built in memory: stop as soon as it cannot be sent, instead of first
  // reading a tree of any size (a checkout with its build outputs) into the worker.
  return packTree(real, limit, () =>
    codeError('PAYLOAD_TOO_LARGE', `the tar of directory "${dir}" grows past the runtime's message limit of ${limit} bytes (AGENTIX_MAX_PAYLOAD); download its subdirectories one by one, or raise the limit`),
  );
}

// ---- helpers (not exported: only the functions above are remote targets) ----

/** The runtime's message limit (the worker gets it as AGENTIX_MAX_PAYLOAD), read per call like the root. */
function maxPayload(): number {
  const configured = Number(process.env.AGENTIX_MAX_PAYLOAD);
  return Number.isFinite(configured) && configured > 0 ? configured : DEFAULT_MAX_PAYLOAD;
}

function notFound(err: NodeJS.ErrnoException, path: string): Error {
  if (err.code === 'ENOENT') return codeError('ENOENT', `path "${path}" does not exist`);
  return err;
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
