/**
 * The order in which the worker takes frames from the pipe. Frames run in
 * arrival order, but at most `sliceMs` of them per turn of the event loop: a
 * burst of short synchronous calls lets heartbeats, timers and output through
 * between slices, so a busy worker is never mistaken for a hung one. While a
 * backlog waits, the pipe is paused (the kernel buffers, not our heap). Frames
 * of a connection whose client is not reading are set aside until it reads
 * again: their calls do not start and so produce nothing to hold.
 */
import { performance } from 'node:perf_hooks';

export interface InboundFrame {
  conn: number;
  message: Buffer;
  seq: number;
  at: number;
}

export interface InboundOptions {
  handle(frame: InboundFrame): void;
  /**
   * A promise to wait for before `frame` may be handled (a CALL whose target
   * is still being imported and compiled), or undefined. The queue waits
   * in order, so the call starts, and is recorded as started, only once its
   * code can run synchronously within a slice.
   */
  gate?(frame: InboundFrame): Promise<void> | undefined;
  /**
   * True while what the worker sends cannot leave (the pipe to the server is
   * full): no new frame is taken until `resume()` is called, so calls started
   * never outrun what can be delivered and nothing piles up in the heap.
   */
  blocked?(): boolean;
  /**
   * Called when a slice of work ends (before the event loop turns), with the
   * largest CALL seq such that every CALL up to it has been handled (frames of
   * a paused connection hold it back).
   */
  afterSlice?(handledUpTo: number): void;
  /** Stop and restart reading the pipe. */
  pauseInput(): void;
  resumeInput(): void;
  sliceMs: number;
  /** Frames waiting beyond which the pipe is paused. */
  maxQueued?: number;
}

export class InboundQueue {
  private queue: InboundFrame[] = [];
  private head = 0;
  private draining = false;
  private inputPaused = false;
  private waitingForRoom = false;
  /** The largest seq handled so far. */
  private handled = 0;
  private readonly deferred = new Map<number, InboundFrame[]>();
  private readonly maxQueued: number;

  constructor(private readonly opts: InboundOptions) {
    this.maxQueued = opts.maxQueued ?? 4096;
  }

  push(frame: InboundFrame): void {
    const held = this.deferred.get(frame.conn);
    if (held) return void held.push(frame);
    this.queue.push(frame);
    if (!this.draining) this.drain();
    else if (this.queue.length - this.head > this.maxQueued && !this.inputPaused) {
      this.inputPaused = true;
      this.opts.pauseInput();
    }
  }

  /** Sets aside the frames of `conn` from now on. */
  defer(conn: number): void {
    if (this.deferred.has(conn)) return;
    // Frames already queued for it wait too, in order.
    const held = this.take(conn);
    this.deferred.set(conn, held);
  }

  /** Takes the frames set aside for `conn` back, behind what is queued now. */
  undefer(conn: number): void {
    const held = this.deferred.get(conn);
    if (!held) return;
    this.deferred.delete(conn);
    for (const f of held) this.queue.push(f);
    if (!this.draining && held.length > 0) this.drain();
  }

  /** Removes and returns every frame of `conn` still waiting (the connection is gone). */
  take(conn: number): InboundFrame[] {
    const taken = this.deferred.get(conn) ?? [];
    this.deferred.delete(conn);
    const rest: InboundFrame[] = [];
    for (let i = this.head; i < this.queue.length; i++) (this.queue[i]!.conn === conn ? taken : rest).push(this.queue[i]!);
    this.queue = rest;
    this.head = 0;
    return taken;
  }

  /** The output side has room again (see `blocked`). */
  resume(): void {
    if (this.waitingForRoom) {
      this.waitingForRoom = false;
      this.drain();
    }
  }

  /** What `afterSlice` reports: below the first set-aside CALL, if any waits. */
  private handledMark(): number {
    let mark = this.handled;
    for (const held of this.deferred.values()) for (const f of held) if (f.seq > 0 && f.seq <= mark) mark = f.seq - 1;
    return mark;
  }

  private drain = (): void => {
    this.draining = true;
    const start = performance.now();
    while (this.head < this.queue.length) {
      if (this.opts.blocked?.()) {
        this.waitingForRoom = true;
        return;
      }
      const frame = this.queue[this.head]!;
      const wait = this.opts.gate?.(frame);
      if (wait) {
        void wait.then(this.drain);
        return;
      }
      this.queue[this.head++] = undefined as unknown as InboundFrame;
      this.opts.handle(frame);
      if (frame.seq > this.handled) this.handled = frame.seq;
      if (this.head < this.queue.length && performance.now() - start > this.opts.sliceMs) {
        this.opts.afterSlice?.(this.handledMark());
        setImmediate(this.drain);
        return;
      }
    }
    this.opts.afterSlice?.(this.handledMark());
    this.queue = [];
    this.head = 0;
    this.draining = false;
    if (this.inputPaused) {
      this.inputPaused = false;
      this.opts.resumeInput();
    }
  };
}
