/**
 * Child processes for the bash plugin: finding bash, building the child's
 * environment, and starting / killing a command as one process group.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { isExecutable, searchPath } from '../../runtime/executable-path.js';
import { MAX_TIMER_MS } from '../../runtime/wire/deadline.js';
import { abortError, codeError } from '../errors.js';
import { groupMembers } from './proc.js';
import { startWatchdog, unwatch, watch } from './watchdog.js';

/** Where a bundle puts node and the system tools it carries (bundle/layout.ts RUNTIME_BIN). */
export const BUNDLE_BIN = '/nix/runtime/bin';
/** How long a group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 500;
/** A PATH for images that set none (an empty image's config often has no Env). */
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The bash to run: `AGENTIX_BASH` when set (tests, unusual images), else the
 * bundle's own `/nix/runtime/bin/bash` (known to work on any image, even one
 * without libc), else the first bash on PATH.
 */
export function resolveBash(): string {
  const override = process.env.AGENTIX_BASH;
  if (override) {
    if (!isExecutable(override)) throw codeError('ENOBASH', `AGENTIX_BASH="${override}" is not an executable file`);
    return override;
  }
  const bundled = join(BUNDLE_BIN, 'bash');
  if (isExecutable(bundled)) return bundled;
  const path = process.env.PATH ?? FALLBACK_PATH;
  const found = searchPath('bash', path);
  if (found) return found;
  throw codeError('ENOBASH', `bash not found: neither ${bundled} nor on PATH=${path} (build the bundle with bash among its tools)`);
}

/**
 * The child's environment: the runtime's own without AGENTIX_TOKEN, then
 * the caller's `env` on top.
 *
 * PATH: the task image's tools come first and the bundle's tools are
 * *appended*, so `git` or `python` mean the image's own (what the task was
 * built with) and the bundle only fills gaps (bash, coreutils on a busybox or
 * empty image). A PATH given in `env` is taken as is, plus that same fallback.
 */
export function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The runtime's own secret is not the command's business (a test suite run by an agent could leak it).
  delete env.AGENTIX_TOKEN;
  Object.assign(env, checkEnv(extra));
  let path = env.PATH ?? FALLBACK_PATH;
  if (existsSync(BUNDLE_BIN) && !path.split(delimiter).includes(BUNDLE_BIN)) path = path ? `${path}${delimiter}${BUNDLE_BIN}` : BUNDLE_BIN;
  env.PATH = path;
  return env;
}

function checkEnv(env: Record<string, string> | undefined): Record<string, string> {
  if (env === undefined || env === null) return {};
  if (typeof env !== 'object' || Array.isArray(env)) throw codeError('EINVAL', 'opts.env must be an object of name → string');
  for (const [k, v] of Object.entries(env)) {
    if (typeof v !== 'string') throw codeError('EINVAL', `opts.env.${k} must be a string, got ${typeof v}`);
    if (k.includes('=') || k.includes('\0') || v.includes('\0')) throw codeError('EINVAL', `opts.env.${k}: names may not contain "=" and neither names nor values NUL bytes`);
  }
  return env;
}

/** Live process groups, killed when this process exits so no command outlives it by accident. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killLiveGroups(): void {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
}

/**
 * Before a group is started: the hooks that kill the groups when this
 * process ends, and the watchdog for when it is SIGKILLed. Both must be in
 * place before the first command runs — a signal that arrives while they
 * are being set up would otherwise end this process with the command left
 * running (it did, for the first command of a worker).
 */
function prepareTracking(bash: string): void {
  // For the death no hook sees (SIGKILL): see watchdog.ts.
  startWatchdog(bash, liveGroups);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killLiveGroups);
  // A signal's default action ends the process without 'exit', and the server stops its
  // worker with SIGTERM: the groups (detached, so no terminal or parent signal reaches
  // them) used to outlive it. Kill them, then end as the signal would have, unless
  // somebody else handles it (then that handler decides).
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      killLiveGroups();
      if (process.listenerCount(sig) === 1) {
        process.off(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

function trackGroup(pgid: number): void {
  liveGroups.add(pgid);
  watch(pgid);
}

function untrackGroup(pgid: number): void {
  if (liveGroups.delete(pgid)) unwatch(pgid);
}

export interface SpawnGroupOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** stdio beyond 0..2 (the session's command pipe). Default: stdin ignored, stdout and stderr piped. */
  stdio?: StdioOptions;
}

/** What starting a command needs, worked out from the caller's options (bash.spawn sends it to the keeper). */
export interface LaunchSpec {
  bash: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Checks the caller's cwd and env and finds bash: everything but the process itself. */
export function launchSpec(opts: { cwd?: unknown; env?: Record<string, string> }): LaunchSpec {
  const bash = resolveBash();
  if (opts.cwd !== undefined && typeof opts.cwd !== 'string') throw codeError('EINVAL', 'opts.cwd must be a string');
  return { bash, cwd: resolve(opts.cwd ?? '.'), env: childEnv(opts.env) };
}

/**
 * Starts bash with `args` as the leader of a new process group, so the
 * whole tree it starts (pipelines, background jobs) can be signalled at once.
 * Resolves once the process has started; rejects with a clear error if it cannot.
 */
export function spawnGroup(args: string[], opts: SpawnGroupOptions): Promise<ChildProcess> {
  return startGroup(launchSpec(opts), args, opts.stdio);
}

/** spawnGroup with the launch already worked out. */
export function startGroup(spec: LaunchSpec, args: string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe']): Promise<ChildProcess> {
  const { bash, cwd, env } = spec;
  prepareTracking(bash);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bash, args, { cwd, env, detached: true, stdio, windowsHide: true });
    // Tracked from the moment the pid exists, until the caller kills the group.
    if (child.pid !== undefined) trackGroup(child.pid);
    const onError = (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) untrackGroup(child.pid);
      const why = err.code === 'ENOENT' && !existsSync(cwd) ? `working directory "${cwd}" does not exist` : err.message;
      reject(Object.assign(new Error(`cannot start ${bash}: ${why}`), { code: err.code ?? 'ESPAWN' }));
    };
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      // A later 'error' (a failed kill) must not crash the worker.
      child.on('error', () => undefined);
      resolvePromise(child);
    });
  });
}

/** Sends `signal` to every process of the group; false when nobody is left in it. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: nobody left in the group
  }
}

/** Whether any process of the group still runs (zombies do not count; see proc.ts). */
export function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  const members = groupMembers(pgid);
  return members === undefined || members.length > 0; // no /proc: trust kill(0)
}

/**
 * SIGTERM to the whole group, then SIGKILL to whatever is left after
 * `graceMs`. Resolves when the group is gone or SIGKILL was sent (bounded by
 * the grace plus one poll). Zombies of re-parented children in a container
 * without an init still count as members; SIGKILL at the end covers them too.
 */
export async function killGroup(child: ChildProcess | number, graceMs = KILL_GRACE_MS): Promise<void> {
  const pgid = typeof child === 'number' ? child : child.pid;
  if (pgid === undefined) return;
  try {
    if (!signalGroup(pgid, 'SIGTERM')) return;
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && groupAlive(pgid)) await sleep(20);
    signalGroup(pgid, 'SIGKILL');
  } finally {
    untrackGroup(pgid);
  }
}

/**
 * Kills a command's group on its timeout or its call's abort, once, and
 * remembers why; `finish()` kills what is left when the command is over.
 * `onAbort` lets a caller wake its own waits at once.
 */
export class GroupStopper {
  timedOut = false;
  private killing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort: () => void;

  constructor(private readonly pgid: number, timeoutMs: number | undefined, private readonly signal?: AbortSignal, onAbort?: () => void) {
    // Above the largest delay a timer can hold, setTimeout fires after 1 ms instead
    // (a "no limit" 2**31 would kill at once): such a limit (≥ 24.8 days) is no limit.
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        void this.kill();
      }, timeoutMs);
    }
    this.onAbort = () => {
      void this.kill();
      onAbort?.();
    };
    // The call may have been cancelled while bash was starting (spawnGroup is async): an
    // 'abort' listener added now would never fire, and the command would run unkilled.
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Kills the group (once); resolves when it is gone. */
  kill(): Promise<void> {
    this.killing ??= killGroup(this.pgid);
    return this.killing;
  }

  /**
   * The leader exited: no timeout applies any more, and whatever it left
   * running in its group (background jobs) is killed, so nothing outlives
   * the command's call. Resolves when the group is gone.
   */
  finish(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    return this.kill();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/**
 * Kills every process of the group but `keep` (a session's shell): SIGTERM,
 * then SIGKILL to what is left after `graceMs`. Returns false when the
 * members cannot be told apart (no /proc): then nothing was signalled.
 */
export async function killGroupExcept(pgid: number, keep: number, graceMs = KILL_GRACE_MS): Promise<boolean> {
  const first = groupMembers(pgid)?.filter((pid) => pid !== keep);
  if (first === undefined) return false;
  for (const pid of first) signalPid(pid, 'SIGTERM');
  // Only those: what the shell starts after them (its next command) is not ours to kill.
  const left = () => {
    const now = new Set(groupMembers(pgid) ?? []);
    return first.filter((pid) => now.has(pid));
  };
  const deadline = Date.now() + graceMs;
  let survivors = first;
  while (survivors.length > 0 && Date.now() < deadline) {
    await sleep(20);
    survivors = left();
  }
  for (const pid of survivors) signalPid(pid, 'SIGKILL');
  return true;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone meanwhile
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the exit code and signal of a child (at once if it already exited). */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export { abortError, codeError };

export function checkTimeout(value: unknown, name = 'opts.timeoutMs'): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw codeError('EINVAL', `${name} must be a positive number of milliseconds, got ${String(value)}`);
  return value;
}
