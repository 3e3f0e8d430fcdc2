/**
 * Output plumbing for the bash plugin: a byte-capped collector (bash.run),
 * an ordered, back-pressured event queue (bash.stream), UTF-8 decoding of a
 * pipe, and the wait for a command's pipes to close.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import type { ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

/**
 * After bash exits, how long its pipes may stay open (a process that left
 * the group, or a paused pipe) before we stop reading.
 */
export const LINGER_MS = 250;

/** Keeps the first `max` bytes of a stream and counts whether anything was dropped. */
export class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (chunk.length > room) {
      this.truncated = true;
      if (room <= 0) return;
      chunk = chunk.subarray(0, room);
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** UTF-8 text; a character cut by the cap becomes U+FFFD. */
  text(): string {
    return Buffer.concat(this.chunks as unknown as Uint8Array[], this.size).toString('utf8');
  }
}

export type StreamName = 'stdout' | 'stderr';
export type OutputEvent = { stdout: string } | { stderr: string };

/**
 * The events of one process in the order its pipes delivered them. Adjacent
 * chunks of the same stream merge while they wait, so a fast producer and a
 * slow consumer exchange few, large items. Above `highWater` queued
 * characters the pipes are paused: the process then blocks on its own writes
 * instead of this queue growing without bound.
 */
export class EventQueue<End> {
  private items: OutputEvent[] = [];
  private queued = 0;
  private paused = false;
  private end: { value: End } | undefined;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** When the pipes were last resumed (the linger timer after exit counts from here). */
  lastResume = 0;
  /** Characters pushed so far (what arrived after bash exited is bounded by the caller). */
  received = 0;

  constructor(private readonly pipes: Readable[], private readonly highWater: number) {}

  get isPaused(): boolean {
    return this.paused;
  }

  push(stream: StreamName, text: string): void {
    if (!text || this.end || this.failure) return;
    const last = this.items[this.items.length - 1];
    if (last && stream in last) (last as Record<StreamName, string>)[stream] += text;
    else this.items.push(stream === 'stdout' ? { stdout: text } : { stderr: text });
    this.queued += text.length;
    this.received += text.length;
    if (this.queued > this.highWater) {
      this.paused = true;
      // Checked on every push, not only when crossing the mark: Node resumes a child's
      // paused stdout/stderr by itself when the child exits (child_process flushStdio),
      // and a background job still writing would then grow this queue without bound.
      for (const p of this.pipes) if (!p.isPaused()) p.pause();
    }
    this.notify();
  }

  finish(value: End): void {
    if (this.end || this.failure) return;
    this.end = { value };
    this.notify();
  }

  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.notify();
  }

  /** The next output event, then the end value once, then undefined. Rejects after fail(). */
  async next(): Promise<{ event: OutputEvent } | { end: End }> {
    for (;;) {
      if (this.failure) throw this.failure;
      const item = this.items.shift();
      if (item) {
        this.queued -= 'stdout' in item ? item.stdout.length : item.stderr.length;
        if (this.paused && this.queued <= this.highWater / 2) {
          this.paused = false;
          this.lastResume = Date.now();
          for (const p of this.pipes) p.resume();
        }
        return { event: item };
      }
      if (this.end) return { end: this.end.value };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/** Decodes a pipe's bytes as UTF-8 without splitting a character across chunks. */
export function decodeInto(pipe: Readable, onText: (text: string) => void): void {
  const decoder = new StringDecoder('utf8');
  pipe.on('data', (chunk: Buffer) => onText(decoder.write(chunk)));
  pipe.on('end', () => onText(decoder.end()));
  pipe.on('close', () => onText(decoder.end()));
  // A pipe error (EPIPE after a kill) ends the stream like EOF does.
  pipe.on('error', () => undefined);
}

/**
 * Resolves when both pipes closed, or LINGER_MS after the leader exited if
 * something (a process that escaped the group) still holds them: then we
 * stop reading. `extend()` true postpones giving up (paused pipes still
 * hold unread output).
 */
export function pipesClosed(child: ChildProcess, pipes: Readable[], extend: () => boolean = () => false): Promise<void> {
  const open = pipes.filter((p) => !p.destroyed && !p.readableEnded);
  if (open.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout;
    const done = () => {
      clearTimeout(timer);
      child.off('close', done);
      resolve();
    };
    const check = () => {
      if (extend()) {
        timer = setTimeout(check, LINGER_MS);
        return;
      }
      for (const p of pipes) p.destroy();
      done();
    };
    child.once('close', done);
    timer = setTimeout(check, LINGER_MS);
  });
}
