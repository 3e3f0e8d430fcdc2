/**
 * Length-prefixed frames on the server ↔ worker pipe (fd 3 of the worker):
 *
 *   u32 LE  byte length of everything after this field (16 + message length)
 *   u32 LE  connection id (0: about no connection)
 *   u32 LE  sequence number of a CALL, counted per worker by the server (else 0)
 *   f64 LE  the call's deadline, ms since the epoch (0: none; only on CALL)
 *   …       the msgpack message, byte for byte what travels on the WebSocket
 *
 * The server forwards messages without decoding them; the extra fields carry
 * what the server knows about a call that the message itself does not (when
 * it arrived, which CALL of this worker it is). Writes are gathered and
 * flushed once per turn of the event loop: many small frames, one syscall.
 */
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';

export const PIPE_HEADER = 20;
const AFTER_LENGTH = PIPE_HEADER - 4;
/** Below this many pending bytes a flush copies into one buffer; above, it hands the pieces to one writev. */
const COPY_BELOW = 64 * 1024;

export interface FrameMeta {
  seq: number;
  at: number;
}

const NO_META: FrameMeta = { seq: 0, at: 0 };

export class FrameWriter {
  private pending: { conn: number; message: Uint8Array; seq: number; at: number }[] = [];
  private pendingBytes = 0;
  private scheduledNow = false;
  private scheduledTurn = false;
  /** `now` frames written since the last flush (see leaveAfter). */
  private nowSinceFlush = 0;

  /**
   * `when`: how a flush is scheduled after the first write of a batch. `turn`
   * (setImmediate) gathers everything the turn of the event loop produces,
   * promise continuations included; `now` (a microtask) sends as soon as the
   * code that wrote returns, which gathers one read's worth of frames and adds
   * no wait to a lone one. A write can ask for the other rule: a stream's
   * items gather for the turn (one pipe write for many), while a result
   * written among them still leaves at once and takes them along.
   *
   * `leaveAfter`: a batch of `now` frames also leaves once it holds this many
   * (0: never early). See WORKER_RESULTS_PER_WRITE for why the worker's does.
   */
  constructor(
    private readonly socket: Socket,
    private readonly when: 'turn' | 'now' = 'turn',
    private readonly leaveAfter = 0,
  ) {}

  write(conn: number, message: Uint8Array, meta: FrameMeta = NO_META, when: 'turn' | 'now' = this.when): void {
    this.pending.push({ conn, message, seq: meta.seq, at: meta.at });
    this.pendingBytes += PIPE_HEADER + message.length;
    if (when === 'now') {
      if (this.leaveAfter > 0 && ++this.nowSinceFlush >= this.leaveAfter) return this.flush();
      if (!this.scheduledNow) {
        this.scheduledNow = true;
        queueMicrotask(this.flush);
      }
    } else if (!this.scheduledTurn && !this.scheduledNow) {
      this.scheduledTurn = true;
      setImmediate(this.flush);
    }
  }

  /** True when the OS pipe is full and the caller should wait for 'drain'. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Bytes gathered for the next flush. */
  get bytesPending(): number {
    return this.pendingBytes;
  }

  /**
   * Last-chance write when the process is exiting (user code called
   * process.exit): the frames still gathered, written synchronously. Skipped
   * if the socket still has queued bytes, which must go first and no longer can.
   */
  flushSync(fd: number): void {
    if (this.pending.length === 0 || this.socket.writableLength > 0) return;
    try {
      writeSync(fd, this.joined());
    } catch {
      // the server is gone; nothing to tell
    }
  }

  flush = (): void => {
    this.nowSinceFlush = 0;
    this.scheduledNow = false;
    this.scheduledTurn = false;
    if (this.pending.length === 0) return;
    if (this.socket.destroyed) {
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    if (this.pendingBytes < COPY_BELOW) {
      this.socket.write(this.joined());
      return;
    }
    // Large payloads: no copy. Corked writes leave as one writev.
    const frames = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.cork();
    for (const f of frames) {
      this.socket.write(header(f.conn, f.message.length, f.seq, f.at));
      this.socket.write(f.message);
    }
    this.socket.uncork();
  };

  /** Everything pending as one buffer (and nothing pending afterwards). */
  private joined(): Buffer {
    const out = Buffer.allocUnsafe(this.pendingBytes);
    let off = 0;
    for (const f of this.pending) {
      const n = f.message.length;
      writeHeader(out, off, f.conn, n, f.seq, f.at);
      copySmall(f.message, out, off + PIPE_HEADER);
      off += PIPE_HEADER + n;
    }
    this.pending = [];
    this.pendingBytes = 0;
    return out;
  }
}

function header(conn: number, length: number, seq: number, at: number): Buffer {
  const h = Buffer.allocUnsafe(PIPE_HEADER);
  writeHeader(h, 0, conn, length, seq, at);
  return h;
}

// The header is read and written byte by byte: Buffer's readUInt32LE / writeUInt32LE (bounds checks,
// a call per field) were a visible share of the cost of a small frame, on both ends of the pipe.
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);

function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v;
  buf[off + 1] = v >>> 8;
  buf[off + 2] = v >>> 16;
  buf[off + 3] = v >>> 24;
}

function readU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 0x100_0000;
}

function writeHeader(buf: Uint8Array, off: number, conn: number, length: number, seq: number, at: number): void {
  writeU32(buf, off, length + AFTER_LENGTH);
  writeU32(buf, off + 4, conn);
  writeU32(buf, off + 8, seq >>> 0);
  F64[0] = at; // this machine's byte order; the pipe is little-endian
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) buf[off + 12 + i] = F64_BYTES[i]!;
  else for (let i = 0; i < 8; i++) buf[off + 12 + i] = F64_BYTES[7 - i]!;
}

function readF64(buf: Uint8Array, off: number): number {
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) F64_BYTES[i] = buf[off + i]!;
  else for (let i = 0; i < 8; i++) F64_BYTES[7 - i] = buf[off + i]!;
  return F64[0]!;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Up to this many bytes a loop copies faster than TypedArray.prototype.set (a builtin call per message). */
const LOOP_COPY_BELOW = 64;

/** `to.set(from, at)`, by a loop for small messages (see LOOP_COPY_BELOW): also the server's framing of small client messages. */
export function copySmall(from: Uint8Array, to: Uint8Array, at: number): void {
  const n = from.length;
  if (n >= LOOP_COPY_BELOW) return to.set(from, at);
  for (let i = 0; i < n; i++) to[at + i] = from[i]!;
}

export type FrameHandler = (conn: number, message: Buffer, seq: number, at: number) => void;

/**
 * Splits a byte stream into frames; calls `onFrame` for each. A frame larger
 * than one read arrives in many chunks: they are collected and joined once,
 * when the frame is complete (joining on every chunk would copy a 60 MB frame
 * thousands of times).
 */
const EMPTY = Buffer.alloc(0);

export class FrameReader {
  private buf: Buffer = EMPTY;
  /** Chunks of an incomplete frame beyond `buf`, and how many bytes the frame needs in all. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private need = 0;

  constructor(
    private readonly maxFrame: number,
    private readonly onFrame: FrameHandler,
  ) {}

  push(chunk: Buffer): void {
    if (this.need > 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      if (this.buf.length + this.partsBytes < this.need) return;
      chunk = Buffer.concat([this.buf, ...this.parts]);
      this.buf = EMPTY;
      this.parts = [];
      this.partsBytes = 0;
      this.need = 0;
    } else if (this.buf.length > 0) {
      chunk = Buffer.concat([this.buf, chunk]);
    }
    let off = 0;
    const size = chunk.length;
    while (size - off >= PIPE_HEADER) {
      const len = readU32(chunk, off);
      if (len < AFTER_LENGTH || len > this.maxFrame + AFTER_LENGTH) throw new Error(`pipe frame of ${len} bytes is out of bounds`);
      if (size - off < 4 + len) {
        this.need = 4 + len;
        break;
      }
      const conn = readU32(chunk, off + 4);
      const seq = readU32(chunk, off + 8);
      const at = readF64(chunk, off + 12);
      // subarray, not a copy: the message is forwarded as is and dropped soon after.
      this.onFrame(conn, chunk.subarray(off + PIPE_HEADER, off + 4 + len), seq, at);
      off += 4 + len;
    }
    this.buf = off === size ? EMPTY : chunk.subarray(off);
  }
}
