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

  /**
   * `when`: how a flush is scheduled after the first write of a batch. `turn`
   * (setImmediate) gathers everything the turn of the event loop produces,
   * promise continuations included; `now` (a microtask) sends as soon as the
   * code that wrote returns, which gathers one read's worth of frames and adds
   * no wait to a lone one. A write can ask for the other rule: a stream's
   * items gather for the turn (one pipe write for many), while a result
   * written among them still leaves at once and takes them along.
   */
  constructor(
    private readonly socket: Socket,
    private readonly when: 'turn' | 'now' = 'turn',
  ) {}

  write(conn: number, message: Uint8Array, meta: FrameMeta = NO_META, when: 'turn' | 'now' = this.when): void {
    this.pending.push({ conn, message, seq: meta.seq, at: meta.at });
    this.pendingBytes += PIPE_HEADER + message.length;
    if (when === 'now') {
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
      writeHeader(out, off, f.conn, f.message.length, f.seq, f.at);
      out.set(f.message, off + PIPE_HEADER);
      off += PIPE_HEADER + f.message.length;
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

function writeHeader(buf: Buffer, off: number, conn: number, length: number, seq: number, at: number): void {
  buf.writeUInt32LE(length + AFTER_LENGTH, off);
  buf.writeUInt32LE(conn, off + 4);
  buf.writeUInt32LE(seq >>> 0, off + 8);
  buf.writeDoubleLE(at, off + 12);
}

export type FrameHandler = (conn: number, message: Buffer, seq: number, at: number) => void;

/**
 * Splits a byte stream into frames; calls `onFrame` for each. A frame larger
 * than one read arrives in many chunks: they are collected and joined once,
 * when the frame is complete (joining on every chunk would copy a 60 MB frame
 * thousands of times).
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
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
      this.buf = Buffer.alloc(0);
      this.parts = [];
      this.partsBytes = 0;
      this.need = 0;
    } else if (this.buf.length > 0) {
      chunk = Buffer.concat([this.buf, chunk]);
    }
    let off = 0;
    while (chunk.length - off >= PIPE_HEADER) {
      const len = chunk.readUInt32LE(off);
      if (len < AFTER_LENGTH || len > this.maxFrame + AFTER_LENGTH) throw new Error(`pipe frame of ${len} bytes is out of bounds`);
      if (chunk.length - off < 4 + len) {
        this.need = 4 + len;
        break;
      }
      const conn = chunk.readUInt32LE(off + 4);
      const seq = chunk.readUInt32LE(off + 8);
      const at = chunk.readDoubleLE(off + 12);
      // subarray, not a copy: the message is forwarded as is and dropped soon after.
      this.onFrame(conn, chunk.subarray(off + PIPE_HEADER, off + 4 + len), seq, at);
      off += 4 + len;
    }
    this.buf = off === chunk.length ? Buffer.alloc(0) : chunk.subarray(off);
  }
}
