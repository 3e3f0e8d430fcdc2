/**
 * One client connection on the server: its socket, its calls, and its send
 * queue with a bound. Past `sendQueueBytes` queued towards the client the
 * connection is *congested*: the server stops reading from it (TCP pushes back
 * on the client), the worker is told to hold its output and stop its streams,
 * and log lines for it are dropped, counted, and reported with one marker line
 * once it reads again. A client that stays congested for `stuckClientMs` is
 * disconnected with a close reason that says why; its calls are cancelled.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { encode } from '../wire/codec.js';
import { corkForTick } from '../wire/cork.js';
import { copySmall } from '../wire/framing.js';
import * as P from '../wire/protocol.js';
import type { ServerCall } from './calls.js';

/** Why reading from a client is paused; reading resumes when no reason is left. */
export const PauseReason = {
  /** Its own send queue is over the bound. */
  Congested: 1,
  /** The pipe to the worker is full (every connection). */
  Pipe: 2,
  /** The receive budget for incomplete messages is used up (receive-budget.ts). */
  Budget: 4,
} as const;
export type PauseReason = (typeof PauseReason)[keyof typeof PauseReason];

export interface ConnectionHooks {
  /** The connection became congested (true) or drained (false). */
  congestion(conn: Connection, congested: boolean): void;
}

export interface ConnectionLimits {
  sendQueueBytes: number;
  stuckClientMs: number;
}

/** Messages below this size are framed by the connection itself and leave together (see flushBatch); 16-bit lengths. */
const BATCH_BELOW = 64 * 1024;
/** How long a stuck client's close frame gets before the socket is cut. */
const CLOSE_GRACE_MS = 5000;

export class Connection {
  readonly calls = new Map<number, ServerCall>();
  protocolErrors = 0;
  private pauseReasons = 0;
  private congestedFlag = false;
  private stuckTimer: NodeJS.Timeout | undefined;
  private droppedLogBytes = 0;
  private readonly socket: Socket | undefined;
  /** Small messages waiting for this tick's flush (see flushBatch), and their framed size. */
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private batchScheduled = false;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks,
  ) {
    // `_socket` is ws's underlying net.Socket; not public API, but stable across ws 8.x.
    this.socket = (ws as unknown as { _socket?: Socket })._socket;
    this.socket?.on('drain', () => this.drained());
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  get congested(): boolean {
    return this.congestedFlag;
  }

  /** Sends a message (bytes as they are); `log`: a LOG line, dropped while the connection is congested. */
  send(bytes: Uint8Array, log = false): void {
    if (!this.open) return;
    if (log && this.congestedFlag) {
      this.droppedLogBytes += bytes.length;
      return;
    }
    if (bytes.length < BATCH_BELOW && this.socket) {
      this.batch.push(bytes);
      this.batchBytes += (bytes.length < 126 ? 2 : 4) + bytes.length;
      if (!this.batchScheduled) {
        this.batchScheduled = true;
        process.nextTick(this.flushBatch);
      }
    } else {
      this.flushBatch(); // what was sent before leaves before
      corkForTick(this.ws);
      this.ws.send(bytes, this.wrote);
    }
    if (!this.congestedFlag && this.ws.bufferedAmount + this.batchBytes > this.limits.sendQueueBytes) this.congest();
  }

  /**
   * The small messages sent since the last flush, framed here as WebSocket binary frames (server to
   * client: FIN, opcode 2, no mask) and written as one buffer. Through ws each message cost two
   * socket writes (header and payload) and their share of a writev: most of the server's cost of a
   * small result. Written straight to ws's socket, they count in ws's bufferedAmount as its own do.
   */
  private readonly flushBatch = (): void => {
    this.batchScheduled = false;
    if (this.batch.length === 0) return;
    const frames = this.batch;
    const size = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    const socket = this.socket;
    if (!this.open || !socket || socket.destroyed) return;
    const out = Buffer.allocUnsafe(size);
    let off = 0;
    for (const m of frames) {
      const n = m.length;
      out[off++] = 0x82;
      if (n < 126) out[off++] = n;
      else {
        out[off++] = 126;
        out[off++] = n >>> 8;
        out[off++] = n & 0xff;
      }
      copySmall(m, out, off);
      off += n;
    }
    socket.write(out, this.wrote);
  };

  /**
   * A write left for the kernel. The socket says 'drain' only after a write that filled its own buffer
   * (16 KiB): below a send-queue bound smaller than that, or when a congested client reads again what
   * was written without filling it, completed writes are the only sign that the queue went down.
   */
  private readonly wrote = (): void => {
    if (this.congestedFlag) this.drained();
  };

  sendMessage(message: unknown[]): void {
    this.send(encode(message));
  }

  pauseReading(reason: PauseReason): void {
    if (this.pauseReasons === 0) this.ws.pause();
    this.pauseReasons |= reason;
  }

  resumeReading(reason: PauseReason): void {
    if (!(this.pauseReasons & reason)) return;
    this.pauseReasons &= ~reason;
    if (this.pauseReasons === 0) this.ws.resume();
  }

  /** Closes with `code` and a reason (cut to the 123 bytes a close frame holds); cuts the socket if the client does not answer. */
  close(code: number, reason: string): void {
    this.clearStuck();
    if (this.ws.readyState === this.ws.CLOSED) return;
    this.flushBatch(); // the close frame comes after every message sent before it
    this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** The socket closed: nothing of ours may keep it (or this object) alive. */
  dispose(): void {
    this.clearStuck();
  }

  private congest(): void {
    this.congestedFlag = true;
    this.pauseReading(PauseReason.Congested);
    this.hooks.congestion(this, true);
    this.watchProgress(this.socket?.bytesWritten ?? 0);
  }

  /** Stuck means no progress: a client that reads slowly but steadily is never cut off. */
  private watchProgress(written: number): void {
    this.stuckTimer = setTimeout(() => {
      const now = this.socket?.bytesWritten ?? 0;
      if (now > written) return this.watchProgress(now);
      this.close(1008, `the client read nothing for ${this.limits.stuckClientMs} ms with ${this.ws.bufferedAmount} bytes waiting for it`);
    }, this.limits.stuckClientMs);
  }

  private drained(): void {
    if (!this.congestedFlag || this.ws.bufferedAmount > this.limits.sendQueueBytes / 2) return;
    this.congestedFlag = false;
    this.clearStuck();
    this.resumeReading(PauseReason.Congested);
    this.hooks.congestion(this, false);
    if (this.droppedLogBytes > 0) {
      const n = this.droppedLogBytes;
      this.droppedLogBytes = 0;
      this.sendMessage([P.LOG, 0, 'stderr', `[agentix: ${n} bytes of output were dropped: the client was not reading them fast enough]\n`]);
    }
  }

  private clearStuck(): void {
    clearTimeout(this.stuckTimer);
    this.stuckTimer = undefined;
  }
}
