/**
 * Length-prefixed frames on the server ↔ worker pipe:
 *
 *   [u32 LE: byte length of what follows][u32 LE: connection id][msgpack message]
 *
 * The connection id tells the server which WebSocket a worker frame belongs
 * to; the message bytes are exactly what travels in the WebSocket frame, so
 * the server forwards them without decoding. Writes are gathered and flushed
 * once per tick: many small frames become one syscall.
 */
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';

export const PIPE_HEADER = 8;

export class FrameWriter {
  private pending: Buffer[] = [];
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  write(conn: number, message: Uint8Array): void {
    const head = Buffer.allocUnsafe(PIPE_HEADER);
    head.writeUInt32LE(message.length + 4, 0);
    head.writeUInt32LE(conn, 4);
    this.pending.push(head, message instanceof Buffer ? message : Buffer.from(message.buffer, message.byteOffset, message.length));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** True when the OS pipe is full and the caller should wait for 'drain'. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  /**
   * Last-chance write when the process is exiting (user code called
   * process.exit): the frames still gathered for this tick, written
   * synchronously. Skipped if the socket still has queued bytes, which must
   * go first and no longer can.
   */
  flushSync(fd: number): void {
    if (this.pending.length === 0 || this.socket.writableLength > 0) return;
    try {
      writeSync(fd, Buffer.concat(this.pending));
    } catch {
      // the server is gone; nothing to tell
    }
    this.pending = [];
  }

  flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0 || this.socket.destroyed) {
      this.pending = [];
      return;
    }
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.socket.write(chunk);
  };
}

/**
 * Splits a byte stream into frames; calls `onFrame(conn, message)` for each.
 * A frame larger than one read arrives in many chunks: they are collected and
 * joined once, when the frame is complete (joining on every chunk would copy
 * a 60 MB frame thousands of times).
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Chunks of an incomplete frame beyond `buf`, and how many bytes the frame needs in all. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private need = 0;

  constructor(
    private readonly maxFrame: number,
    private readonly onFrame: (conn: number, message: Buffer) => void,
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
      if (len < 4 || len > this.maxFrame + 4) throw new Error(`pipe frame of ${len} bytes is out of bounds`);
      if (chunk.length - off < 4 + len) {
        this.need = 4 + len;
        break;
      }
      const conn = chunk.readUInt32LE(off + 4);
      // subarray, not a copy: the message is forwarded as is and dropped soon after.
      this.onFrame(conn, chunk.subarray(off + PIPE_HEADER, off + 4 + len));
      off += 4 + len;
    }
    this.buf = off === chunk.length ? Buffer.alloc(0) : chunk.subarray(off);
  }
}
