/**
 * The local deployment's temporary directories: snapshots (copies of a
 * sandbox's working directory), the working copies sandboxes started from a
 * snapshot run in, and the socket directories of `network: 'none'`
 * sandboxes. Every one is named `agentix-local-<kind>-<pid>-…` under the
 * host's temp dir, removed when its sandbox is deleted or, at the latest,
 * when this process exits; what a crashed process left is found by its pid
 * (`agentix gc`, localGarbage below).
 */
import { cpSync, lstatSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { processAlive } from '../runtime/process-alive.js';
import { AgentixError } from '../runtime/wire/errors.js';
import { isPidTempDir, listPidTempDirs, makePidTempDir } from './shared/pid-temp.js';
import type { Removed } from './shared/removed.js';

const KINDS = ['snapshot', 'fork', 'net'] as const;
export type LocalTempKind = (typeof KINDS)[number];
/** Each kind's dirs are pid temp dirs (shared/pid-temp.ts) of this prefix. */
const prefixOf = (kind: LocalTempKind) => `agentix-local-${kind}`;
/** What `create({ image })` takes to start from a local snapshot: `local-snapshot:/tmp/agentix-local-snapshot-…`. */
export const LOCAL_SNAPSHOT_SCHEME = 'local-snapshot:';

/** Every temp dir this process made and has not removed yet: gone at exit whatever happens. */
const live = new Set<string>();
let exitHook = false;

/** A fresh private (0700) temp dir of this process. */
export function localTempDir(kind: LocalTempKind): string {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const dir of live) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = makePidTempDir(prefixOf(kind));
  live.add(dir);
  return dir;
}

export function removeLocalTempDir(dir: string): void {
  live.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Copies a sandbox's working directory into a new snapshot; returns its reference. */
export function copyToSnapshot(workdir: string): string {
  const dir = localTempDir('snapshot');
  try {
    copyTree(workdir, join(dir, 'root'));
  } catch (err) {
    removeLocalTempDir(dir);
    throw new AgentixError('UNAVAILABLE', `cannot snapshot the local sandbox's working directory ${workdir}: ${(err as Error).message}`);
  }
  return `${LOCAL_SNAPSHOT_SCHEME}${dir}`;
}

/** True when `image` names a local snapshot (and so is not ignored as the local deployment ignores images). */
export function isLocalSnapshot(image: string | undefined): image is string {
  return typeof image === 'string' && image.startsWith(LOCAL_SNAPSHOT_SCHEME);
}

/**
 * A working copy of a snapshot for a new sandbox: the snapshot stays as it is,
 * so any number of sandboxes can start from it. Returns the copy's temp dir
 * and the directory to run in.
 */
export function forkSnapshot(ref: string): { dir: string; workdir: string } {
  const snap = resolve(ref.slice(LOCAL_SNAPSHOT_SCHEME.length));
  if (!isPidTempDir(snap, prefixOf('snapshot')))
    throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig: \`image\` ${JSON.stringify(ref)} is not a local snapshot (snapshot() of the local deployment returns those)`);
  if (!isDir(join(snap, 'root'))) throw new AgentixError('NOT_FOUND', `invalid SandboxConfig: local snapshot ${snap} no longer exists (snapshots go when the process that made them exits)`);
  const dir = localTempDir('fork');
  try {
    copyTree(join(snap, 'root'), join(dir, 'root'));
  } catch (err) {
    removeLocalTempDir(dir);
    throw new AgentixError('UNAVAILABLE', `cannot copy local snapshot ${snap}: ${(err as Error).message}`);
  }
  return { dir, workdir: join(dir, 'root') };
}

/** The temp dirs of local sandboxes whose process is gone (a crash or SIGKILL skips the exit hook). */
export function localGarbage(opts: { keep?: (pid: number) => boolean; dryRun?: boolean } = {}): Removed[] {
  const removed: Removed[] = [];
  for (const d of listPidTempDirs(KINDS.map(prefixOf))) {
    if (opts.keep ? opts.keep(d.pid) : processAlive(d.pid)) continue;
    if (!opts.dryRun) rmSync(d.path, { recursive: true, force: true });
    removed.push({ kind: d.prefix === prefixOf('snapshot') ? 'snapshot' : 'directory', id: basename(d.path), name: d.path, bundle: '', where: 'local' });
  }
  return removed;
}

function copyTree(from: string, to: string): void {
  // verbatimSymlinks: a link stays the link it was (not re-pointed into the copy, not followed).
  // The filter leaves out what cannot be copied as a file (cpSync refuses FIFOs and sockets, so one
  // socket a dev server left in the working directory made every snapshot fail): a socket means
  // nothing without the process listening on it, and Node cannot make a FIFO or device node.
  cpSync(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, filter: copyable });
}

function copyable(path: string): boolean {
  try {
    const st = lstatSync(path);
    return !(st.isFIFO() || st.isSocket() || st.isBlockDevice() || st.isCharacterDevice());
  } catch {
    return true; // gone meanwhile: let cpSync say so
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
