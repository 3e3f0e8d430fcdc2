/**
 * The server's handle on its worker subprocess: spawns it (child_process,
 * never worker_threads), frames messages over fd 3, hands it the progress
 * ring on fd 4, collects its stdout/stderr, hears its heartbeat, and starts a
 * new one when it dies. Crash loops back off; every wait is bounded.
 *
 * It numbers each CALL as it writes it (`seq`, also written into the call's
 * record) so the server can later ask `started(seq)`, even of a dead worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childExecArgv, siblingEntry } from '../entry-path.js';
import { FrameReader, FrameWriter } from '../wire/framing.js';
import * as L from '../wire/limits.js';
import type { ServerOptions } from './server.js';
import { frameworkWorkOf, wasStarted } from '../wire/progress.js';
import * as P from '../wire/protocol.js';

export interface SupervisorOptions {
  runDir: string;
  maxPayload: number;
  env?: Record<string, string | undefined>;
  /** Working directory of user code. */
  cwd?: string;
  /** How often the worker says it is alive (and the server checks on its calls). */
  heartbeatMs: number;
}

/** The server options a supervisor depends on. */
export type WorkerServerOptions = Pick<ServerOptions, 'runDir' | 'maxPayload' | 'hangGraceMs' | 'cwd' | 'env'>;

/** The supervisor options of a server with these options: one rule, for the server and for an early start. */
export function supervisorOptions(opts: WorkerServerOptions): SupervisorOptions {
  const maxPayload = opts.maxPayload ?? L.DEFAULT_MAX_PAYLOAD;
  const hangGraceMs = opts.hangGraceMs ?? L.DEFAULT_HANG_GRACE_MS;
  return {
    runDir: opts.runDir,
    maxPayload,
    cwd: opts.cwd,
    env: { ...opts.env, AGENTIX_MAX_PAYLOAD: String(maxPayload) },
    heartbeatMs: Math.max(5, Math.min(250, Math.floor(hangGraceMs / 4))),
  };
}

/**
 * One worker started before the server's own modules were loaded (main.ts:
 * its node bootstrap then overlaps theirs on a second core), until the server
 * made with the same options takes it over. A process-wide slot rather than a
 * constructor parameter, so that the supervisor stays out of RuntimeServer's
 * public signature.
 */
let early: { key: string; worker: WorkerSupervisor } | undefined;

/** Starts the worker of a server with these options now; the server's constructor takes it over. */
export function startWorkerEarly(opts: WorkerServerOptions): WorkerSupervisor {
  if (early) discard(early.worker);
  const options = supervisorOptions(opts);
  const worker = new WorkerSupervisor(options);
  worker.start();
  early = { key: JSON.stringify(options), worker };
  return worker;
}

/**
 * The early worker if it was started with these options and not stopped since
 * (taken, once), else a new supervisor, not started. A stopped one stays
 * stopped: runServer kills its early worker when its server cannot be made.
 */
export function workerFor(opts: WorkerServerOptions): WorkerSupervisor {
  const options = supervisorOptions(opts);
  const taken = early;
  early = undefined;
  if (taken && taken.key === JSON.stringify(options) && !taken.worker.stopped) return taken.worker;
  if (taken) discard(taken.worker);
  return new WorkerSupervisor(options);
}

/** An early worker nobody takes over: stopped, and its progress ring closed once it has exited. */
function discard(worker: WorkerSupervisor): void {
  void worker.stop().catch(() => undefined);
}

/** What the supervisor writes into a call's record when its CALL frame goes to a worker. */
export interface Dispatch {
  /** The CALL's number (0 until written). */
  seq: number;
  /** Which worker got it (0 until written). */
  generation: number;
  /** Absolute deadline, passed to the worker in the pipe frame. */
  at: number;
}

export interface SupervisorEvents {
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
  /** One heartbeat period passed (the server checks on its calls then). */
  tick: [];
}

/** Consecutive deaths before readiness after which the worker counts as broken. */
const BROKEN_AFTER = 3;
const RESTART_BACKOFF_MS = [0, 50, 200, 1000, 3000];
const STABLE_AFTER_MS = 5000;
const KILL_GRACE_MS = 1000;
/** How long a dead worker's frame pipe may take to deliver its last bytes. */
const PIPE_DRAIN_MS = 1000;

/** Where the worker entry is: next to this file's folder (AGENTIX_WORKER_ENTRY overrides it, for unusual layouts). */
function workerEntry(): string {
  return process.env.AGENTIX_WORKER_ENTRY || siblingEntry(import.meta.url, '../worker/main');
}

/** User code gets the server's environment minus what is the server's alone. */
function workerEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const { AGENTIX_TOKEN: _token, AGENTIX_TOKEN_FILE: _file, AGENTIX_EXIT_WITH_STDIN: _stdin, ...rest } = env;
  return rest;
}

/**
 * The progress ring's file: made where this sandbox lets us write, unlinked at
 * once (the descriptor keeps it). Undefined when nowhere is writable; the
 * server then treats every call in flight on a dying worker as started.
 */
function openProgressRing(cwd: string | undefined): number | undefined {
  for (const dir of [tmpdir(), '/dev/shm', cwd ?? process.cwd(), '/']) {
    const file = join(dir, `.agentix-progress-${process.pid}-${Date.now()}`);
    try {
      const fd = openSync(file, 'wx+', 0o600);
      unlinkSync(file);
      return fd;
    } catch {
      // next place
    }
  }
  return undefined;
}

interface Queued {
  conn: number;
  message: Uint8Array;
  dispatch?: Dispatch;
}

export class WorkerSupervisor extends EventEmitter<SupervisorEvents> {
  private child: ChildProcess | undefined;
  private writer: FrameWriter | undefined;
  private readyFlag = false;
  private stopping = false;
  private crashes = 0;
  private startedAt = 0;
  /** Frames sent while no worker is ready go out, in order, once one is. */
  private backlog: Queued[] = [];
  private backlogBytes = 0;
  /**
   * Which worker a frame sent now will reach. It moves on the moment a worker
   * is killed or dies, so frames sent while the old one is still exiting wait
   * for its successor instead of failing with it.
   */
  private gen = 1;
  private childGen = 0;
  private seq = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** When the worker last said anything (any frame counts). */
  private lastHeard = 0;
  private diedBeforeReady = 0;
  /** Whether the current child has said it is ready (readyFlag also drops when we kill it). */
  private childReady = false;
  private killReason: string | undefined;
  /** The end of the worker's stderr, for the message when it cannot start. */
  private stderrTail = '';
  private readonly progressFd: number | undefined;
  private ringClosed = false;
  private brokenWhy: string | undefined;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.progressFd = openProgressRing(opts.cwd);
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** Whether start() was called (an early worker is started before its server exists). */
  get launched(): boolean {
    return this.child !== undefined; // start() spawns at once, and a child is never forgotten
  }

  /** Whether stop() or killNow() was called since start(): no worker will be started again. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** Why the worker counts as broken, if it does (kept for a server that starts listening only afterwards). */
  get broken(): string | undefined {
    return this.brokenWhy;
  }

  /** True while the pipe to the worker is full: the server stops reading from clients until 'drain'. */
  get congested(): boolean {
    return this.writer?.congested ?? false;
  }

  get generation(): number {
    return this.gen;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Milliseconds since the ready worker last answered anything (0 when it is not ready). */
  silentForMs(now = Date.now()): number {
    return this.readyFlag ? now - this.lastHeard : 0;
  }

  /** The runtime's own work on a large message that the worker has marked, if any (wire/progress.ts). */
  frameworkWork(): { seq: number; since: number } | undefined {
    return this.progressFd === undefined || this.ringClosed ? undefined : frameworkWorkOf(this.progressFd);
  }

  /** Whether the worker started the CALL numbered `seq`; undefined when that cannot be known. */
  started(seq: number): boolean | undefined {
    if (seq === 0) return false;
    // After stop() closed the ring its descriptor number may be another file's: unknown, not read.
    return this.progressFd === undefined || this.ringClosed ? undefined : wasStarted(this.progressFd, seq);
  }

  start(): void {
    this.stopping = false;
    this.spawnChild();
    this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
  }

  /**
   * Sends a frame to the worker; queued while it (re)starts. A CALL passes its
   * record as `dispatch`, which learns its seq and generation once written.
   * Returns false when the queue is over its byte limit, so the caller can
   * refuse the call instead.
   */
  send(conn: number, message: Uint8Array, dispatch?: Dispatch): boolean {
    if (this.readyFlag && this.writer) {
      this.write(conn, message, dispatch);
      return true;
    }
    if (this.backlogBytes + message.length > this.opts.maxPayload * 4) return false;
    this.backlog.push({ conn, message, dispatch });
    this.backlogBytes += message.length;
    return true;
  }

  /** Forgets queued frames for which `drop` says so (calls the server already ended). */
  dropQueued(drop: (conn: number, message: Uint8Array, dispatch?: Dispatch) => boolean): void {
    this.backlog = this.backlog.filter((f) => !drop(f.conn, f.message, f.dispatch));
    this.backlogBytes = this.backlog.reduce((n, f) => n + f.message.length, 0);
  }

  /** Kills the current worker (it is restarted unless stop() was called). */
  kill(reason: string): void {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.killReason ??= reason;
    this.readyFlag = false;
    if (this.gen === this.childGen) this.gen++;
    child.kill('SIGKILL');
  }

  /** Stops for good, synchronously: SIGKILL now (for exit handlers, which cannot wait). */
  killNow(): void {
    this.stopping = true;
    this.clearTimers();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** Stops for good: SIGTERM, then SIGKILL after a grace period. Resolves once the process is gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      await gone;
      clearTimeout(timer);
    }
    // Once: a second stop() (a server closed after its listen() failed) must not close the descriptor
    // number again, which by then may be another file's.
    if (this.progressFd !== undefined && !this.ringClosed) {
      this.ringClosed = true;
      closeSync(this.progressFd);
    }
  }

  private clearTimers(): void {
    clearTimeout(this.restartTimer);
    clearInterval(this.heartbeat);
  }

  private write(conn: number, message: Uint8Array, dispatch?: Dispatch): void {
    if (dispatch) {
      dispatch.seq = ++this.seq; // the pipe frame carries it as u32; the handled mark compares whole numbers
      dispatch.generation = this.childGen;
      this.writer!.write(conn, message, dispatch);
    } else this.writer!.write(conn, message);
  }

  private beat(): void {
    this.emit('tick');
  }

  private spawnChild(): void {
    this.readyFlag = false;
    this.childReady = false;
    this.startedAt = Date.now();
    this.childGen = this.gen;
    if (this.progressFd !== undefined) ftruncateSync(this.progressFd, 0);
    const child = spawn(process.execPath, [...childExecArgv(), workerEntry(), this.opts.runDir], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', this.progressFd ?? 'ignore'],
      env: { ...workerEnv({ ...process.env, ...this.opts.env }), AGENTIX_HEARTBEAT_MS: String(this.opts.heartbeatMs) },
      cwd: this.opts.cwd,
    });
    this.child = child;
    const pipe = child.stdio[3] as Socket;
    // Client frames go to the worker as soon as the read that brought them is handled.
    this.writer = new FrameWriter(pipe, 'now');
    const reader = new FrameReader(this.opts.maxPayload + 64, (conn, message) => {
      if (child !== this.child) return;
      this.lastHeard = Date.now();
      if (conn === 0) {
        const type = message[1];
        if (type === P.W_ALIVE) return;
        if (type === P.W_READY) {
          // A child we already killed may still say it is ready; only the current, live one counts.
          if (this.gen === this.childGen) this.onReady();
          return;
        }
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
    this.lastHeard = Date.now();
    this.diedBeforeReady = 0;
    const backlog = this.backlog;
    this.backlog = [];
    this.backlogBytes = 0;
    for (const f of backlog) this.write(f.conn, f.message, f.dispatch);
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
    this.emit('exit', description, dead);
    if (this.stopping) return;
    if (!this.childReady && ++this.diedBeforeReady >= BROKEN_AFTER) {
      this.brokenWhy = `the worker died ${this.diedBeforeReady} times before it was ready (${description})${this.stderrTail ? `:\n${this.stderrTail.trim()}` : ''}`;
      this.emit('broken', this.brokenWhy);
    }
    this.crashes = Date.now() - this.startedAt > STABLE_AFTER_MS ? 1 : this.crashes + 1;
    const delay = RESTART_BACKOFF_MS[Math.min(this.crashes - 1, RESTART_BACKOFF_MS.length - 1)]!;
    this.restartTimer = setTimeout(() => this.spawnChild(), delay);
  }
}
