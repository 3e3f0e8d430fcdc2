/**
 * Reading and writing through handles the walk (walk.ts) found: a file is
 * reopened through its own handle (`/proc/self/fd/<fd>`), so the inode that
 * was checked is the one used, and read with a bound that holds while
 * reading — a size from stat is only a hint (`/proc/self/pagemap` says 0 and
 * reads on for terabytes).
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { constants, ftruncate as ftruncateCb, read as readCb, write as writeCb, fchmod as fchmodCb, futimes as futimesCb } from 'node:fs';
import { promisify } from 'node:util';
import { abortError } from '../errors.js';
import { close, fdPath, open } from './walk.js';

// fs.read / fs.write promisified resolve to { bytesRead } / { bytesWritten }.
const read = promisify(readCb) as unknown as (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null) => Promise<{ bytesRead: number }>;
const write = promisify(writeCb) as unknown as (fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null) => Promise<{ bytesWritten: number }>;
export const ftruncate = promisify(ftruncateCb) as (fd: number, len: number) => Promise<void>;
export const fchmod = promisify(fchmodCb) as (fd: number, mode: number) => Promise<void>;
export const futimes = promisify(futimesCb) as (fd: number, atime: Date, mtime: Date) => Promise<void>;

const CHUNK = 1024 * 1024;
const BLOCK = 4096;
const { O_RDONLY, O_NONBLOCK } = constants;

/** Opens the file an O_PATH handle refers to, for reading (never blocks: a fifo was refused before). */
export function reopen(fd: number, flags = O_RDONLY): Promise<number> {
  return open(fdPath(fd), flags | O_NONBLOCK);
}

/**
 * The whole content of an open file, or `tooLarge()` as soon as more than
 * `limit` bytes arrived. `sizeHint` (from stat) only sizes the first
 * buffer. The signal is checked between reads.
 */
export async function readBounded(fd: number, limit: number, tooLarge: () => Error, signal?: AbortSignal, sizeHint = 0): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Room for the whole file and one block more (so its end shows without a second buffer);
  // sizes in whole blocks, as some files take reads of certain sizes only (pagemap: multiples of 8).
  let buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.ceil((Math.min(sizeHint, limit) + 1) / BLOCK) * BLOCK));
  let used = 0;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    if (used === buf.length) {
      chunks.push(buf);
      buf = Buffer.allocUnsafe(Math.min(CHUNK, buf.length * 2));
      used = 0;
    }
    const n = (await read(fd, buf, used, buf.length - used, null)).bytesRead;
    if (n === 0) break;
    used += n;
    total += n;
    if (total > limit) throw tooLarge();
  }
  chunks.push(buf.subarray(0, used));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Writes all of `data` at the file's current offset. */
export async function writeAll(fd: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
  let at = 0;
  while (at < data.length) {
    if (signal?.aborted) throw abortError(signal);
    at += (await write(fd, data, at, Math.min(CHUNK, data.length - at), null)).bytesWritten;
  }
}

/** Runs `fn` with a descriptor, closed afterwards whatever happens. */
export async function withFd<T>(fd: number, fn: (fd: number) => Promise<T>): Promise<T> {
  try {
    return await fn(fd);
  } finally {
    await close(fd).catch(() => undefined);
  }
}
