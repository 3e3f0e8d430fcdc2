/**
 * Child processes for the bash plugin: finding bash, building the child's
 * environment, and starting / killing a command as one process group.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where a bundle puts node and the system tools it carries (bundle/layout.ts RUNTIME_BIN). */
export const BUNDLE_BIN = '/nix/runtime/bin';
/** How long a group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 500;
/** A PATH for images that set none (an empty image's config often has no Env). */
const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function searchPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

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

/** Live process groups, killed when the worker exits so no command outlives it by accident. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killLiveGroups(): void {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
}

function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (!exitHookInstalled) {
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
}

export interface SpawnGroupOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** stdio beyond 0..2 (the session's command pipe). Default: stdin ignored, stdout and stderr piped. */
  stdio?: StdioOptions;
}

/**
 * Starts bash with `args` as the leader of a new process group, so the
 * whole tree it starts (pipelines, background jobs) can be signalled at once.
 * Resolves once the process has started; rejects with a clear error if it cannot.
 */
export function spawnGroup(args: string[], opts: SpawnGroupOptions): Promise<ChildProcess> {
  const bash = resolveBash();
  if (opts.cwd !== undefined && typeof opts.cwd !== 'string') throw codeError('EINVAL', 'opts.cwd must be a string');
  const cwd = opts.cwd ?? process.cwd();
  const env = childEnv(opts.env);
  return new Promise((resolve, reject) => {
    const child = spawn(bash, args, {
      cwd,
      env,
      detached: true,
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' && !existsSync(cwd) ? `working directory "${cwd}" does not exist` : err.message;
      reject(Object.assign(new Error(`cannot start ${bash}: ${why}`), { code: err.code ?? 'ESPAWN' }));
    };
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      // A later 'error' (a failed kill) must not crash the worker.
      child.on('error', () => undefined);
      const pid = child.pid!;
      // Tracked until the caller kills or forgets the group (it may outlive its leader: background jobs).
      trackGroup(pid);
      resolve(child);
    });
  });
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: nobody left in the group
  }
}

/**
 * Whether any process of the group still runs. kill(-pgid, 0) alone is not
 * enough: it also counts zombies, and a dead child re-parented to an init that
 * never reaps (a container whose PID 1 is node, some VM inits) stays a zombie
 * forever. So on Linux we look at /proc for members that are not zombies.
 */
function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return true; // no /proc: trust kill(0)
  }
  for (const pid of pids) {
    if (pid.charCodeAt(0) < 48 || pid.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/**
 * SIGTERM to the whole group, then SIGKILL to whatever is left after
 * `graceMs`. Resolves when the group is gone or SIGKILL was sent (bounded by
 * the grace plus one poll). Zombies of re-parented children in a container
 * without an init still count as members; SIGKILL at the end covers them too.
 */
export async function killGroup(child: ChildProcess, graceMs = KILL_GRACE_MS): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  if (!signalGroup(pgid, 'SIGTERM')) {
    liveGroups.delete(pgid);
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groupAlive(pgid)) await sleep(20);
  signalGroup(pgid, 'SIGKILL');
  liveGroups.delete(pgid);
}

/** Stops tracking a group whose leader exited normally; its background jobs are left alone. */
export function forgetGroup(child: ChildProcess): void {
  if (child.pid !== undefined) liveGroups.delete(child.pid);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the exit code and signal of a child (at once if it already exited). */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** An Error with a machine-readable `code` (it travels to the caller as a field of the remote error). */
export function codeError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** The error a call ends with when its AbortSignal fired. */
export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('the call was cancelled'), { name: 'AbortError', code: 'ABORT_ERR' });
}

export function checkTimeout(value: unknown, name = 'opts.timeoutMs'): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw codeError('EINVAL', `${name} must be a positive number of milliseconds, got ${String(value)}`);
  return value;
}
