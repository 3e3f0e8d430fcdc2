/**
 * Which calls the worker has started, readable by the server even when the
 * worker is stuck in a synchronous loop or already dead, in a file (the
 * worker's fd 4, unlinked, so nothing else sees it). The server numbers every
 * CALL it writes to the pipe (the `seq` of its pipe frame). The worker takes
 * CALLs in that order and records:
 *
 *   - at the end of every slice of work, the largest seq it has handled
 *     (all before it were handled too, except calls of a paused connection,
 *     which hold the mark back): one pwrite per slice, not per call;
 *   - right before it runs a function that has not shown it returns quickly
 *     (the calls that could hang mid-slice), that call's seq in a ring of u32
 *     slots: slot (seq mod PROGRESS_SLOTS) at byte offset 4 × slot;
 *   - while it decodes or validates a large message, which call that is.
 *
 * No message, no wake-up of the server. When the server must decide (a hung
 * or dead worker) it reads them: a call is started when its seq is at most the
 * mark, or its slot holds its seq. A call still unfinished after 2^20 newer
 * ones started would read as not started; the server never has that many in
 * flight.
 */
import { readSync, writeSync } from 'node:fs';

export const PROGRESS_SLOTS = 1 << 20;
/** The worker's fd for the ring (after stdin, stdout, stderr and the frame pipe). */
export const PROGRESS_FD = 4;

const slotOffset = (seq: number) => (seq % PROGRESS_SLOTS) * 4;
/**
 * After the ring, one record: [u32 seq][u32 1][f64 since] while the worker
 * decodes or validates a large message of call `seq` (the runtime's own work,
 * which may keep it silent for a while), [.., 0, ..] otherwise.
 */
const FRAMEWORK_OFFSET = PROGRESS_SLOTS * 4;
/** After that, [f64]: the largest seq handled by the end of the last slice. */
const HANDLED_OFFSET = FRAMEWORK_OFFSET + 16;

/** Worker side. */
export class ProgressWriter {
  private readonly buf = Buffer.alloc(4);
  private broken = false;

  constructor(private readonly fd: number) {}

  /** Marks the start (`on`) or end of the runtime's own work on a large message of call `seq`. */
  frameworkWork(seq: number, on: boolean): void {
    if (this.broken) return;
    const b = Buffer.alloc(16);
    b.writeUInt32LE(seq >>> 0, 0);
    b.writeUInt32LE(on ? 1 : 0, 4);
    b.writeDoubleLE(Date.now(), 8);
    try {
      writeSync(this.fd, b, 0, 16, FRAMEWORK_OFFSET);
    } catch {
      this.broken = true;
    }
  }

  /** Every CALL up to `seq` has been handled (at the end of a slice). */
  handledUpTo(seq: number): void {
    if (this.broken || seq === this.lastHandled) return;
    this.lastHandled = seq;
    const b = Buffer.alloc(8);
    b.writeDoubleLE(seq, 0);
    try {
      writeSync(this.fd, b, 0, 8, HANDLED_OFFSET);
    } catch {
      this.broken = true;
    }
  }
  private lastHandled = 0;

  started(seq: number): void {
    if (this.broken || seq === 0) return;
    this.buf.writeUInt32LE(seq >>> 0, 0);
    try {
      writeSync(this.fd, this.buf, 0, 4, slotOffset(seq));
    } catch {
      // No ring (fd 4 not given, disk full): the server then treats every call in flight as started.
      this.broken = true;
    }
  }
}

/**
 * Server side: whether the call numbered `seq` (the server's own count, not
 * wrapped) was started; undefined when the file cannot be read.
 */
export function wasStarted(fd: number, seq: number): boolean | undefined {
  const buf = Buffer.alloc(8);
  try {
    if (readSync(fd, buf, 0, 8, HANDLED_OFFSET) === 8 && seq <= buf.readDoubleLE(0)) return true;
    const n = readSync(fd, buf, 0, 4, slotOffset(seq));
    if (n === 4 && buf.readUInt32LE(0) === seq >>> 0) return true;
    const f = frameworkWorkOf(fd);
    return f !== undefined && f.seq === seq >>> 0;
  } catch {
    return undefined;
  }
}

/** Server side: the runtime's own work the worker is doing, if it marked some. */
export function frameworkWorkOf(fd: number): { seq: number; since: number } | undefined {
  const buf = Buffer.alloc(16);
  try {
    if (readSync(fd, buf, 0, 16, FRAMEWORK_OFFSET) !== 16 || buf.readUInt32LE(4) !== 1) return undefined;
    return { seq: buf.readUInt32LE(0), since: buf.readDoubleLE(8) };
  } catch {
    return undefined;
  }
}
