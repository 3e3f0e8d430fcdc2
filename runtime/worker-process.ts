/**
 * The server's handle on its worker subprocess: spawns it (child_process, never
 * worker_threads), frames messages over fd 3, collects its stdout/stderr, and
 * starts a new one when it dies. Crash loops back off; every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { childExecArgv, siblingEntry } from './entry-path.js';
import { FrameReader, FrameWriter } from './framing.js';
import * as P from './protocol.js';

export interface WorkerOptions {
  runDir: string;
  maxPayload: number;
  env?: Record<string, string | undefined>;
  /** Working directory of user code. */
  cwd?: string;
}

export interface WorkerEvents {
  /** A frame from the worker for connection `conn`. */
  frame: [conn: number, message: Buffer];
  ready: [];
  /** The worker process is gone (crash, exit, kill). A new one is being started unless we are stopping. */
  exit: [description: string, generation: number];
  output: [stream: 'stdout' | 'stderr', text: string];
  /** The worker died before it was ready, several times in a row: it will not come up without a fix. */
  broken: [description: string];
  /** The pipe to the worker accepts writes again (see `congested`). */
  drain: [];
}

/** Consecutive deaths before readiness after which the worker counts as broken. */
const BROKEN_AFTER = 3;

/** Where the worker entry is: next to this file (AGENTIX_WORKER_ENTRY overrides it, for unusual layouts). */
function workerEntry(): string {
  return process.env.AGENTIX_WORKER_ENTRY || siblingEntry(import.meta.url, 'worker-main');
}

/** User code gets the server's environment minus the secret clients authenticate with. */
function workerEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const { AGENTIX_TOKEN: _token, AGENTIX_EXIT_WITH_STDIN: _stdin, ...rest } = env;
  return rest;
}

const RESTART_BACKOFF_MS = [0, 50, 200, 1000, 3000];
const STABLE_AFTER_MS = 5000;
const KILL_GRACE_MS = 1000;
/** How long a dead worker's frame pipe may take to deliver its last bytes. */
const PIPE_DRAIN_MS = 200;

export class WorkerProcess extends EventEmitter<WorkerEvents> {
  private child: ChildProcess | undefined;
  private writer: FrameWriter | undefined;
  private readyFlag = false;
  private stopping = false;
  private crashes = 0;
  private startedAt = 0;
  /** Frames written before the worker said it was ready go out once it is. */
  private backlog: { conn: number; message: Uint8Array; generation: number }[] = [];
  /**
   * Which worker a frame sent now will reach. It moves on the moment a worker
   * is killed or dies, so frames sent while the old one is still exiting wait
   * for its successor instead of failing with it.
   */
  private gen = 1;
  private childGen = 0;
  private backlogBytes = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private diedBeforeReady = 0;
  /** Whether the current child has said it is ready (readyFlag also drops when we kill it). */
  private childReady = false;
  /** The end of the worker's stderr, for the message when it cannot start. */
  private stderrTail = '';

  constructor(private readonly opts: WorkerOptions) {
    super();
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** True while the pipe to the worker is full: the server stops reading from clients until 'drain'. */
  get congested(): boolean {
    return this.writer?.congested ?? false;
  }

  /** Forgets frames of one call still queued for a starting worker (the server has already ended the call). */
  dropQueued(conn: number, id: number): void {
    this.backlog = this.backlog.filter((f) => f.conn !== conn || P.peekHead(f.message)?.id !== id);
    this.backlogBytes = this.backlog.reduce((n, f) => n + f.message.length, 0);
  }

  get generation(): number {
    return this.gen;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopping = false;
    this.spawnChild();
  }

  /**
   * Sends a frame to the worker; queued while it (re)starts. Returns false when
   * the queue is over its byte limit, so the caller can refuse the call instead.
   */
  send(conn: number, message: Uint8Array): boolean {
    if (this.readyFlag && this.writer) {
      this.writer.write(conn, message);
      return true;
    }
    if (this.backlogBytes + message.length > this.opts.maxPayload * 4) return false;
    this.backlog.push({ conn, message, generation: this.gen });
    this.backlogBytes += message.length;
    return true;
  }

  /** Kills the current worker (it is restarted unless stop() was called). */
  kill(reason: string): void {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.killReason = reason;
    this.readyFlag = false;
    if (this.gen === this.childGen) this.gen++;
    child.kill('SIGKILL');
  }
  private killReason: string | undefined;

  /** Stops for good, synchronously: SIGKILL now (for exit handlers, which cannot wait). */
  killNow(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** Stops for good: SIGTERM, then SIGKILL after a grace period. Resolves once the process is gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    await gone;
    clearTimeout(timer);
  }

  private spawnChild(): void {
    this.readyFlag = false;
    this.childReady = false;
    this.startedAt = Date.now();
    this.childGen = this.gen;
    const child = spawn(process.execPath, [...childExecArgv(), workerEntry(), this.opts.runDir], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: workerEnv({ ...process.env, ...this.opts.env }),
      cwd: this.opts.cwd,
    });
    this.child = child;
    const pipe = child.stdio[3] as Socket;
    this.writer = new FrameWriter(pipe);
    const reader = new FrameReader(this.opts.maxPayload + 64, (conn, message) => {
      if (conn === 0 && message[1] === P.W_READY) {
        // A child we already killed may still say it is ready; only the current, live one counts.
        if (child === this.child && this.gen === this.childGen) this.onReady();
        return;
      }
      this.emit('frame', conn, message);
    });
    pipe.on('drain', () => this.emit('drain'));
    pipe.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.kill(`worker wrote a malformed frame (${(err as Error).message})`);
      }
    });
    pipe.on('error', () => undefined); // the exit handler reports what matters
    child.stdout!.setEncoding('utf8').on('data', (t: string) => this.emit('output', 'stdout', t));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => {
      this.stderrTail = (this.stderrTail + t).slice(-4000);
      this.emit('output', 'stderr', t);
    });
    child.on('error', (err) => this.emit('output', 'stderr', `agentix: cannot start worker: ${err.message}\n`));
    child.on('exit', (code, signal) => {
      // Frames the worker wrote just before it died (its last log lines) are read before its calls are failed.
      if (pipe.readableEnded || pipe.destroyed) return this.onExit(child, code, signal);
      const proceed = () => {
        clearTimeout(timer);
        pipe.off('close', proceed);
        this.onExit(child, code, signal);
      };
      const timer = setTimeout(proceed, PIPE_DRAIN_MS);
      pipe.once('close', proceed);
    });
  }

  private onReady(): void {
    this.childReady = true;
    this.readyFlag = true;
    this.diedBeforeReady = 0;
    const backlog = this.backlog;
    this.backlog = [];
    this.backlogBytes = 0;
    for (const f of backlog) this.writer!.write(f.conn, f.message);
    this.emit('ready');
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.readyFlag = false;
    this.writer = undefined;
    const description = this.killReason ?? (signal ? `worker killed by ${signal}` : `worker exited with code ${code}`);
    this.killReason = undefined;
    const dead = this.childGen;
    if (this.gen === dead) this.gen++;
    // Frames queued for the dead worker belong to calls that are now failed; later ones wait for the next worker.
    this.backlog = this.backlog.filter((f) => f.generation > dead);
    this.backlogBytes = this.backlog.reduce((n, f) => n + f.message.length, 0);
    this.emit('exit', description, dead);
    if (this.stopping) return;
    if (!this.childReady && ++this.diedBeforeReady >= BROKEN_AFTER) {
      this.emit('broken', `the worker died ${this.diedBeforeReady} times before it was ready (${description})${this.stderrTail ? `:\n${this.stderrTail.trim()}` : ''}`);
    }
    this.crashes = Date.now() - this.startedAt > STABLE_AFTER_MS ? 1 : this.crashes + 1;
    const delay = RESTART_BACKOFF_MS[Math.min(this.crashes - 1, RESTART_BACKOFF_MS.length - 1)]!;
    this.restartTimer = setTimeout(() => this.spawnChild(), delay);
  }
}
