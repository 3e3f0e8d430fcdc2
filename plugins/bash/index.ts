/**
 * The built-in `bash` plugin: run shell commands inside the sandbox.
 *
 *   await remote.bash.run('make test', { cwd: 'repo', timeoutMs: 60_000 })
 *   for await (const ev of remote.bash.stream('npm ci')) ...
 *   const sh = remote.bash.session(); sh.send('cd src'); sh.send('ls'); ...
 *   const { id } = await remote.bash.spawn('npm start'); ... await remote.bash.output(id, { since })
 *
 * Every command runs as `bash -c` in its own process group, and what a call
 * starts ends with the call: its end, a timeout, a cancel, a deadline or a
 * broken-off stream kills the whole group (SIGTERM, then SIGKILL after a
 * short grace), children and background jobs included. bash.spawn is the
 * way to keep a process: a keeper process owns it (see background.ts).
 *
 * This module is compiled as plugin entry: every export is a remote target
 * (`bash.run`, `bash.stream`, `bash.session`, `bash.spawn`, ...), so it
 * exports only those functions and the plain-data types of their
 * signatures. See docs/plugins.md.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Channel } from '../../runtime/channel.js';
import { currentSignal } from '../../runtime/sandbox-api.js';
import { MAX_TIMER_MS } from '../../runtime/wire/deadline.js';
import { MarkerSplitter, sessionScript, type Segment } from './framing.js';
import { CappedBuffer, EventQueue, LINGER_MS, decodeInto, pipesClosed } from './output.js';
import { keeper } from './background.js';
import { GroupStopper, abortError, checkTimeout, codeError, exited, killGroup, killGroupExcept, launchSpec, spawnGroup } from './process.js';

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
  /**
   * Per command: after this many milliseconds what the command runs is
   * killed; the shell goes on if it comes back to its prompt, else it is
   * killed too and the session ends. The result keeps the output until then.
   */
  timeoutMs?: number;
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
  /** The command ran into the session's `timeoutMs`; the output is what it wrote until then. */
  timedOut?: boolean;
}

export interface SpawnOptions {
  /** Working directory of the command; default: the runtime's working directory. */
  cwd?: string;
  /** Extra environment variables, on top of the runtime's own. */
  env?: Record<string, string>;
  /** Kill the command's process group after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
  /** Output kept (stdout and stderr together, newest bytes); older bytes are dropped and counted. Default 1 MiB, at most 64 MiB. */
  bufferBytes?: number;
}

export interface Spawned {
  /** Names the command in bash.output, bash.attach, bash.kill and bash.list. */
  id: string;
  /** bash's pid, which is also the id of the command's process group. */
  pid: number;
}

/** How a background command ended. */
export interface ExitStatus {
  /** bash's exit status, or null when a signal ended it. */
  exitCode: number | null;
  signal?: string;
  /** The command ran into its `timeoutMs` and was killed. */
  timedOut: boolean;
  durationMs: number;
}

/** A piece of output, stdout or stderr, in the order they arrived. */
export type OutputChunk = { stdout: string } | { stderr: string };

export interface OutputOptions {
  /** Byte offset to read from: 0 (the default) for the start, else the `next` of the previous read. */
  since?: number;
  /** Return at most this many bytes (default 1 MiB, at most 64 MiB). */
  maxBytes?: number;
  /** If there is nothing new yet, wait up to this many milliseconds for output or the exit (default 0, at most 600000). */
  waitMs?: number;
}

export interface OutputResult {
  chunks: OutputChunk[];
  /** The offset after the last byte returned: `since` for the next read. */
  next: number;
  /** Bytes from `since` on that are no longer kept (the buffer dropped them), skipped over. */
  dropped: number;
  /** Present once the command has ended and this read reached the end of its output. */
  exited?: ExitStatus;
}

export interface AttachOptions {
  /** Byte offset to start from (default 0). */
  since?: number;
}

/** A background command as bash.list and bash.kill describe it. */
export interface SpawnInfo {
  id: string;
  command: string;
  pid: number;
  /** When it started, ms since the epoch. */
  startedAt: number;
  running: boolean;
  /** Bytes of output so far (the offset a read from the end would start at). */
  bytes: number;
  /** Bytes of output dropped so far (the oldest). */
  dropped: number;
  exited?: ExitStatus;
}

const DEFAULT_MAX_OUTPUT = 1024 * 1024;
/** Session output kept per command and stream, in characters. */
const SESSION_MAX_OUTPUT = 1024 * 1024;
/** bash.stream pauses the pipes above this many queued characters. */
const STREAM_HIGH_WATER = 1024 * 1024;
/** How long a session's shell gets to exit after its inbox ended. */
const SESSION_EXIT_MS = 2000;
/** Output a background command keeps by default, and at most. */
const DEFAULT_BUFFER_BYTES = 1024 * 1024;
const MAX_BUFFER_BYTES = 64 * 1024 * 1024;
/** What one bash.output returns by default, and at most. */
const DEFAULT_READ_BYTES = 1024 * 1024;
const MAX_READ_BYTES = 16 * 1024 * 1024;
/** The longest bash.output may wait for something new. */
const MAX_WAIT_MS = 600_000;
/** How long each of bash.attach's reads waits for something new before it asks again. */
const ATTACH_WAIT_MS = 10_000;
/** After a session command's timeout killed what it ran, how long the shell gets to come back to its prompt. */
const SESSION_PROMPT_MS = 500;

/**
 * Runs `command` with `bash -c` and returns its exit status and output.
 * What it leaves running in its process group (background jobs) is killed
 * when the call ends; bash.spawn is for processes that should stay.
 */
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

  const stop = new GroupStopper(child.pid!, timeoutMs, signal);
  try {
    const status = await exited(child);
    // The call is over: so is everything it started (bash.spawn is the way to keep a process).
    await stop.finish();
    await pipesClosed(child, [stdout, stderr]);
    if (signal.aborted) throw abortError(signal);
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
    await stop.kill();
  }
}

/**
 * Runs `command` with `bash -c` and yields its output as it happens, stdout
 * and stderr in the order they arrived, then one `{ exit }` event. Breaking
 * out of the loop (or cancelling the call) kills the process group, and so
 * does the end of the command (its background jobs go with it).
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

  const stop = new GroupStopper(child.pid!, timeoutMs, signal, () => queue.fail(abortError(signal)));
  let finished = false;
  void (async () => {
    const status = await exited(child);
    // The command is over, and with it everything it started in its group.
    await stop.finish();
    // Paused pipes hold output the consumer has not taken yet: wait for it rather than dropping it.
    // But what bash left in the pipes is small (pipe and stream buffers); a process that left the
    // group and keeps writing would otherwise keep a draining consumer's stream open forever.
    const atExit = queue.received;
    await pipesClosed(child, [stdout, stderr], () => (queue.isPaused || Date.now() - queue.lastResume < LINGER_MS) && queue.received - atExit <= STREAM_HIGH_WATER);
    queue.finish({ exit: status.code, ...(status.signal ? { signal: status.signal } : {}), timedOut: stop.timedOut });
  })();

  try {
    for (;;) {
      const next = await queue.next();
      if ('end' in next) {
        finished = true;
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
    }
    await stop.kill();
  }
}

/**
 * An interactive bash that keeps its state (working directory, variables,
 * functions, options) across commands. Each inbox string is one command
 * (multi-line scripts are fine); each yields its stdout, stderr and exit code.
 * When the inbox ends the shell exits and the session ends; `exit` in a
 * command ends the session after that command's result. Commands read stdin
 * from /dev/null. Background jobs are killed with the session. With
 * `opts.timeoutMs`, a command that runs longer gets what it runs killed
 * (its result says `timedOut`, with the output until then).
 */
export async function* session(inbox: Channel<string>, opts?: SessionOptions): AsyncGenerator<SessionResult> {
  const o = checkOptions(opts);
  const timeoutMs = checkTimeout(o.timeoutMs);
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
      const framed = () => out !== undefined && err !== undefined;
      const timeout = timeoutMs === undefined ? undefined : new CommandTimeout(timeoutMs, async () => {
        // What the command runs is killed, the shell is not: if it comes back to its
        // prompt (it was waiting for those processes), the session goes on.
        const spared = await killGroupExcept(child.pid!, child.pid!);
        if (spared) await untilOr(() => framed() || shellEnded, SESSION_PROMPT_MS, changed);
        // Still busy (a loop of builtins), or no /proc to tell the shell from the rest: end the session.
        if (!framed()) await killGroup(child);
      });
      try {
        for (;;) {
          if (signal.aborted) throw abortError(signal);
          out ??= outSplit.shift();
          err ??= errSplit.shift();
          if (framed() || shellEnded) break;
          await changed.wait();
        }
      } finally {
        timeout?.dispose();
      }
      const timedOut = timeout?.fired ?? false;
      if (out && err) {
        yield result(command, out, err, out.code ?? null, timedOut);
        continue;
      }
      // The shell ended during the command (`exit`, a signal, a timeout): its last words, then the session is over.
      out ??= outSplit.rest();
      err ??= errSplit.rest();
      yield result(command, out, err, timedOut ? null : child.exitCode, timedOut);
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

/**
 * Starts `command` with `bash -c` in the background and returns at once.
 * It keeps running after the call, the client's connection and the worker
 * (a keeper process owns it) until it ends, is killed (bash.kill, its
 * `timeoutMs`) or the sandbox goes; its output is kept in a bounded buffer
 * for bash.output and bash.attach.
 */
export async function spawn(command: string, opts?: SpawnOptions): Promise<Spawned> {
  const o = checkOptions(opts) as SpawnOptions;
  checkCommand(command);
  const timeoutMs = checkTimeout(o.timeoutMs);
  const bufferBytes = checkBytes(o.bufferBytes, 'opts.bufferBytes', DEFAULT_BUFFER_BYTES, MAX_BUFFER_BYTES);
  const spec = launchSpec(o);
  const signal = currentSignal();
  const k = await keeper({ start: true });
  return k!.request<Spawned>({ op: 'spawn', command, spec, ...(timeoutMs !== undefined ? { timeoutMs } : {}), bufferBytes }, signal);
}

/** A background command's output from `opts.since` on, and its exit once that read reaches the end. */
export async function output(id: string, opts?: OutputOptions): Promise<OutputResult> {
  checkId(id);
  const o = checkOptions(opts) as OutputOptions;
  const since = checkOffset(o.since);
  const maxBytes = checkBytes(o.maxBytes, 'opts.maxBytes', DEFAULT_READ_BYTES, MAX_READ_BYTES);
  const waitMs = checkWait(o.waitMs);
  return (await known(id)).request<OutputResult>({ op: 'output', id, since, maxBytes, waitMs }, currentSignal());
}

/**
 * Follows a background command's output from `opts.since` on: each item is
 * what arrived since the one before (as bash.output returns it); the last
 * one has `exited`. Breaking out of the loop leaves the command running.
 */
export async function* attach(id: string, opts?: AttachOptions): AsyncGenerator<OutputResult> {
  checkId(id);
  let since = checkOffset((checkOptions(opts) as AttachOptions).since);
  const signal = currentSignal();
  const k = await known(id);
  for (;;) {
    const r = await k.request<OutputResult>({ op: 'output', id, since, maxBytes: DEFAULT_READ_BYTES, waitMs: ATTACH_WAIT_MS }, signal);
    since = r.next;
    if (r.chunks.length > 0 || r.dropped > 0 || r.exited) yield r;
    if (r.exited) return;
  }
}

/**
 * Kills a background command's process group: SIGTERM, then SIGKILL after
 * 500 ms, and returns once it is over. With `signal` (e.g. 'SIGINT'), sends
 * just that signal to the group and returns at once.
 */
export async function kill(id: string, signal?: string): Promise<SpawnInfo> {
  checkId(id);
  if (signal !== undefined && signal !== null && (typeof signal !== 'string' || !/^SIG[A-Z0-9]+$/.test(signal) || !(signal in constants.signals))) {
    throw codeError('EINVAL', `signal must be a signal name such as "SIGTERM" or "SIGINT", got ${JSON.stringify(signal)}`);
  }
  return (await known(id)).request<SpawnInfo>({ op: 'kill', id, ...(signal ? { signal } : {}) }, currentSignal());
}

/** Every background command of this sandbox that is running or still kept, oldest first. */
export async function list(): Promise<SpawnInfo[]> {
  const k = await keeper({ start: false });
  if (!k) return [];
  const all = await k.request<SpawnInfo[]>({ op: 'list' }, currentSignal());
  return all.sort((a, b) => a.startedAt - b.startedAt);
}

function result(command: string, out: Segment, err: Segment, exitCode: number | null, timedOut: boolean): SessionResult {
  const r: SessionResult = { command, stdout: out.text, stderr: err.text, exitCode };
  if (out.truncated || err.truncated) r.truncated = true;
  if (timedOut) r.timedOut = true;
  return r;
}

// ---- helpers (not exported: only the functions above are remote targets) ----

/** A session command's time limit: `onFire` runs once when it passes, unless disposed first. */
class CommandTimeout {
  fired = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(ms: number, onFire: () => Promise<void>) {
    if (ms > MAX_TIMER_MS) return; // see GroupStopper: no limit
    this.timer = setTimeout(() => {
      this.fired = true;
      onFire().catch(() => undefined);
    }, ms);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Resolves when `done()` holds (checked on every notification) or after `ms`. */
async function untilOr(done: () => boolean, ms: number, changed: Notifier): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) {
    await Promise.race([changed.wait(), sleepUnref(Math.max(0, deadline - Date.now()))]);
  }
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

/** The keeper, for a request about command `id`: none running means no such command. */
async function known(id: string) {
  const k = await keeper({ start: false });
  if (!k) throw codeError('ENOENT', `no background command "${id}" (none was started in this sandbox)`);
  return k;
}

function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '') throw codeError('EINVAL', `id must be the id bash.spawn returned, got ${JSON.stringify(id)}`);
}

function checkOffset(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw codeError('EINVAL', `opts.since must be a byte offset ≥ 0 (the \`next\` of a previous read), got ${String(value)}`);
  return value;
}

function checkBytes(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) throw codeError('EINVAL', `${name} must be a whole number of bytes from 1 to ${max}, got ${String(value)}`);
  return value;
}

function checkWait(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_WAIT_MS) throw codeError('EINVAL', `opts.waitMs must be a number of milliseconds from 0 to ${MAX_WAIT_MS}, got ${String(value)}`);
  return value;
}

function checkMaxOutput(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_MAX_OUTPUT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw codeError('EINVAL', `opts.maxOutputBytes must be a whole number of bytes ≥ 0, got ${String(value)}`);
  return value;
}
