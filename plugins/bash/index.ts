/**
 * The built-in `bash` plugin: run shell commands inside the sandbox.
 *
 *   await remote.bash.run('make test', { cwd: 'repo', timeoutMs: 60_000 })
 *   for await (const ev of remote.bash.stream('npm ci')) ...
 *   const sh = remote.bash.session(); sh.send('cd src'); sh.send('ls'); ...
 *
 * Every command runs as `bash -c` in its own process group; a timeout, a
 * cancel, a deadline or a broken-off stream kills the whole group (SIGTERM,
 * then SIGKILL after a short grace), children and background jobs included.
 *
 * This module is compiled as plugin entry: every export is a remote target
 * (`bash.run`, `bash.stream`, `bash.session`), so it exports only those
 * functions and the plain-data types of their signatures. See docs/plugins.md.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Channel } from '../../runtime/channel.js';
import { currentSignal } from '../../runtime/context.js';
import { MAX_TIMER_MS } from '../../runtime/wire/deadline.js';
import { MarkerSplitter, sessionScript, type Segment } from './framing.js';
import { CappedBuffer, EventQueue, decodeInto } from './output.js';
import { abortError, checkTimeout, codeError, exited, forgetGroup, killGroup, spawnGroup } from './process.js';

export interface RunOptions {
  /** Working directory of the command; default: the runtime's working directory. */
  cwd?: string;
  /** Extra environment variables, on top of the runtime's own. */
  env?: Record<string, string>;
  /** Kill the command's process group after this many milliseconds. Default: no limit but the call's own deadline. */
  timeoutMs?: number;
  /** Keep at most this many bytes of stdout and of stderr each (default 1 MiB); the rest is dropped. */
  maxOutputBytes?: number;
}

export interface RunResult {
  /** The exit status, or null when a signal ended bash. */
  exitCode: number | null;
  /** The signal that ended bash (e.g. `SIGTERM` after a timeout). */
  signal?: string;
  stdout: string;
  stderr: string;
  /** The command ran into `timeoutMs` and was killed; the output is what it wrote until then. */
  timedOut: boolean;
  /** Some output was dropped because of `maxOutputBytes`. */
  truncated: boolean;
  durationMs: number;
}

export interface StreamOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** One piece of output as it happened, and finally the exit. */
export type StreamEvent = { stdout: string } | { stderr: string } | { exit: number | null; signal?: string; timedOut: boolean };

export interface SessionOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/** The outcome of one command of a session. */
export interface SessionResult {
  command: string;
  stdout: string;
  stderr: string;
  /** The command's status; null when a signal ended the shell during the command. */
  exitCode: number | null;
  /** Output beyond 1 MiB per stream for this command was dropped. */
  truncated?: boolean;
}

const DEFAULT_MAX_OUTPUT = 1024 * 1024;
/** Session output kept per command and stream, in characters. */
const SESSION_MAX_OUTPUT = 1024 * 1024;
/** bash.stream pauses the pipes above this many queued characters. */
const STREAM_HIGH_WATER = 1024 * 1024;
/**
 * After bash exits, how long its pipes may stay open (a background job still
 * holding stdout) before we stop reading. The job keeps running; its later
 * output is lost.
 */
const LINGER_MS = 250;
/** How long a session's shell gets to exit after its inbox ended. */
const SESSION_EXIT_MS = 2000;

/** Runs `command` with `bash -c` and returns its exit status and output. */
export async function run(command: string, opts?: RunOptions): Promise<RunResult> {
  const o = checkOptions(opts);
  checkCommand(command);
  const timeoutMs = checkTimeout(o.timeoutMs);
  const max = checkMaxOutput(o.maxOutputBytes);
  const signal = currentSignal();
  if (signal.aborted) throw abortError(signal);

  const started = performance.now();
  const child = await spawnGroup(['-c', command], { cwd: o.cwd, env: o.env });
  const out = new CappedBuffer(max);
  const err = new CappedBuffer(max);
  const stdout = child.stdout as Readable;
  const stderr = child.stderr as Readable;
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  stdout.on('error', () => undefined);
  stderr.on('error', () => undefined);

  const stop = new GroupStopper(child, timeoutMs, signal);
  try {
    const status = await exited(child);
    stop.leaderExited();
    await pipesClosed(child, [stdout, stderr], () => false);
    await stop.settled();
    if (signal.aborted) throw abortError(signal);
    if (!stop.killed) forgetGroup(child);
    return {
      exitCode: status.code,
      ...(status.signal ? { signal: status.signal } : {}),
      stdout: out.text(),
      stderr: err.text(),
      timedOut: stop.timedOut,
      truncated: out.truncated || err.truncated,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    stop.dispose();
  }
}

/**
 * Runs `command` with `bash -c` and yields its output as it happens, stdout
 * and stderr in the order they arrived, then one `{ exit }` event. Breaking
 * out of the loop (or cancelling the call) kills the process group.
 */
export async function* stream(command: string, opts?: StreamOptions): AsyncGenerator<StreamEvent> {
  const o = checkOptions(opts);
  checkCommand(command);
  const timeoutMs = checkTimeout(o.timeoutMs);
  const signal = currentSignal();
  if (signal.aborted) throw abortError(signal);

  const child = await spawnGroup(['-c', command], { cwd: o.cwd, env: o.env });
  const stdout = child.stdout as Readable;
  const stderr = child.stderr as Readable;
  const queue = new EventQueue<{ exit: number | null; signal?: string; timedOut: boolean }>([stdout, stderr], STREAM_HIGH_WATER);
  decodeInto(stdout, (text) => queue.push('stdout', text));
  decodeInto(stderr, (text) => queue.push('stderr', text));

  const stop = new GroupStopper(child, timeoutMs, signal, () => queue.fail(abortError(signal)));
  let finished = false;
  void (async () => {
    const status = await exited(child);
    stop.leaderExited();
    // Paused pipes hold output the consumer has not taken yet: wait for it rather than dropping it.
    // But what bash left in the pipes is small (pipe and stream buffers); a background job that
    // keeps writing would otherwise keep a draining consumer's stream open forever.
    const atExit = queue.received;
    await pipesClosed(child, [stdout, stderr], () => (queue.isPaused || Date.now() - queue.lastResume < LINGER_MS) && queue.received - atExit <= STREAM_HIGH_WATER);
    await stop.settled();
    queue.finish({ exit: status.code, ...(status.signal ? { signal: status.signal } : {}), timedOut: stop.timedOut });
  })();

  try {
    for (;;) {
      const next = await queue.next();
      if ('end' in next) {
        finished = true;
        if (!stop.killed) forgetGroup(child);
        yield next.end;
        return;
      }
      yield next.event;
    }
  } finally {
    stop.dispose();
    // Broken off early (or failed): nobody reads the output any more, so nothing may keep running.
    if (!finished) {
      // Close our ends of the pipes too: paused, they would never see EOF, and a process
      // that left the group (setsid) and still holds them would keep them open, and the
      // wait for them polling, forever.
      stdout.destroy();
      stderr.destroy();
      await killGroup(child);
    }
  }
}

/**
 * An interactive bash that keeps its state (working directory, variables,
 * functions, options) across commands. Each inbox string is one command
 * (multi-line scripts are fine); each yields its stdout, stderr and exit code.
 * When the inbox ends the shell exits and the session ends; `exit` in a
 * command ends the session after that command's result. Commands read stdin
 * from /dev/null. Background jobs are killed with the session.
 */
export async function* session(inbox: Channel<string>, opts?: SessionOptions): AsyncGenerator<SessionResult> {
  const o = checkOptions(opts);
  const signal = currentSignal();
  if (signal.aborted) throw abortError(signal);

  const marker = `__AGENTIX_${randomBytes(12).toString('hex')}__`;
  const child = await spawnGroup(['--noprofile', '--norc', '-c', sessionScript(marker)], {
    cwd: o.cwd,
    env: o.env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const stdout = child.stdout as Readable;
  const stderr = child.stderr as Readable;
  const commands = child.stdio[3] as Writable;
  commands.on('error', () => undefined); // EPIPE once the shell is gone: noticed through 'exit'

  const outSplit = new MarkerSplitter(marker, true, SESSION_MAX_OUTPUT);
  const errSplit = new MarkerSplitter(marker, false, SESSION_MAX_OUTPUT);
  const changed = new Notifier();
  decodeInto(stdout, (text) => { outSplit.push(text); changed.notify(); });
  decodeInto(stderr, (text) => { errSplit.push(text); changed.notify(); });
  let shellEnded = false;
  void (async () => {
    await exited(child);
    await pipesClosed(child, [stdout, stderr], () => false);
    shellEnded = true;
    changed.notify();
  })();
  const onAbort = () => changed.notify();
  signal.addEventListener('abort', onAbort, { once: true });

  try {
    for (;;) {
      const next = await untilAborted(inbox.next(), signal);
      if (next.done) break;
      const command = next.value;
      if (typeof command !== 'string') throw codeError('EINVAL', `bash.session: each inbox item must be a command string, got ${typeof command}`);
      if (command.includes('\0')) {
        yield { command, stdout: '', stderr: 'agentix: the command contains a NUL byte, which bash cannot take\n', exitCode: 2 };
        continue;
      }
      if (!shellEnded) commands.write(`${command}\0`);

      let out: Segment | undefined;
      let err: Segment | undefined;
      for (;;) {
        if (signal.aborted) throw abortError(signal);
        out ??= outSplit.shift();
        err ??= errSplit.shift();
        if ((out && err) || shellEnded) break;
        await changed.wait();
      }
      if (out && err) {
        yield result(command, out, err, out.code ?? null);
        continue;
      }
      // The shell ended during the command (`exit`, a signal): its last words, then the session is over.
      out ??= outSplit.rest();
      err ??= errSplit.rest();
      yield result(command, out, err, child.exitCode);
      return;
    }
    if (!shellEnded) {
      commands.end();
      await Promise.race([exited(child), sleepUnref(SESSION_EXIT_MS)]);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    commands.destroy();
    await killGroup(child);
  }
}

function result(command: string, out: Segment, err: Segment, exitCode: number | null): SessionResult {
  const r: SessionResult = { command, stdout: out.text, stderr: err.text, exitCode };
  if (out.truncated || err.truncated) r.truncated = true;
  return r;
}

// ---- helpers (not exported: only the functions above are remote targets) ----

/**
 * Kills the group on timeout or abort, once, and remembers why.
 * `onAbort` lets a caller wake its own waits at once.
 */
class GroupStopper {
  timedOut = false;
  killed = false;
  private killing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort: () => void;

  constructor(private readonly child: ChildProcess, timeoutMs: number | undefined, private readonly signal: AbortSignal, onAbort?: () => void) {
    // Above the largest delay a timer can hold, setTimeout fires after 1 ms instead
    // (a "no limit" 2**31 would kill at once): such a limit (≥ 24.8 days) is no limit.
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.kill();
      }, timeoutMs);
    }
    this.onAbort = () => {
      this.kill();
      onAbort?.();
    };
    // The call may have been cancelled while bash was starting (spawnGroup is async): an
    // 'abort' listener added now would never fire, and the command would run unkilled.
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  kill(): void {
    if (this.killing) return;
    this.killed = true;
    this.killing = killGroup(this.child);
  }

  /** The command is over: a timeout can no longer apply (background jobs left behind are not timed). */
  leaderExited(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** Resolves once a started kill has finished (at once if none started). */
  settled(): Promise<void> {
    return this.killing ?? Promise.resolve();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
  }
}

/**
 * Resolves when both pipes closed, or LINGER_MS after the leader exited if
 * something (a background job) still holds them: then we stop reading.
 * `extend()` true postpones giving up (paused pipes still hold unread output).
 */
function pipesClosed(child: ChildProcess, pipes: Readable[], extend: () => boolean): Promise<void> {
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

/** A wake-up for loops that wait on several sources. */
class Notifier {
  private waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** `promise`, or the abort error as soon as the signal fires (the runtime also fails the inbox then). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

function sleepUnref(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function checkCommand(command: unknown): void {
  if (typeof command !== 'string') throw codeError('EINVAL', `the command must be a string, got ${command === null ? 'null' : typeof command}`);
  if (command.includes('\0')) throw codeError('EINVAL', 'the command contains a NUL byte, which bash cannot take');
}

/** RunOptions is the widest of the option types; fields a function does not know are ignored. */
function checkOptions(opts: unknown): RunOptions {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object' || Array.isArray(opts)) throw codeError('EINVAL', 'opts must be an object');
  return opts as RunOptions;
}

function checkMaxOutput(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_MAX_OUTPUT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw codeError('EINVAL', `opts.maxOutputBytes must be a whole number of bytes ≥ 0, got ${String(value)}`);
  return value;
}
