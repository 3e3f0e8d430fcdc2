/**
 * The local deployment's temporary directories: snapshots (copies of a
 * sandbox's working directory), the working copies sandboxes started from a
 * snapshot run in, and the socket directories of `network: 'none'`
 * sandboxes. Every one is named `agentix-local-<kind>-<pid>-…` under the
 * host's temp dir, removed when its sandbox is deleted (a snapshot: by
 * deleteSnapshot) or, at the latest, when this process exits; what a
 * crashed process left is found by its pid (`agentix gc`, localGarbage below).
 */
import { chmodSync, constants, lstatSync, readdirSync, rmSync, type Stats } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readlink, realpath, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
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
      for (const dir of live) removeTree(dir);
    });
  }
  const dir = makePidTempDir(prefixOf(kind));
  live.add(dir);
  return dir;
}

export function removeLocalTempDir(dir: string): void {
  live.delete(dir);
  removeTree(dir);
}

/**
 * rm -rf, also of a copy with read-only directories in it (a sandbox may make
 * one; the copy keeps modes): without root, their entries cannot be unlinked
 * until the directory is writable again.
 */
function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    makeWritable(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function makeWritable(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  chmodSync(path, (st.mode & 0o7777) | 0o700);
  for (const name of readdirSync(path)) makeWritable(join(path, name));
}

/** Copies a sandbox's working directory into a new snapshot; returns its reference. */
export async function copyToSnapshot(workdir: string): Promise<string> {
  const dir = localTempDir('snapshot');
  try {
    await copyTree(workdir, join(dir, 'root'));
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
 * The directory of local snapshot `ref`, checked before anything copies or
 * removes it: a snapshot dir (by its name, of any process) in the host's temp
 * dir that exists and is a directory of this user, its `root` too. `refused`
 * starts each error's message (what was refused: the option, the call).
 */
function localSnapshotDir(ref: string, refused: string): string {
  const snap = resolve(ref.slice(LOCAL_SNAPSHOT_SCHEME.length));
  if (!isPidTempDir(snap, prefixOf('snapshot')))
    throw new AgentixError('INVALID_ARGUMENT', `${refused} ${JSON.stringify(ref)} is not a local snapshot (snapshot() of the local deployment returns those)`);
  const kind = [snap, join(snap, 'root')].map(ownDir);
  if (kind.includes('missing'))
    throw new AgentixError('NOT_FOUND', `${refused} ${JSON.stringify(ref)}: that local snapshot no longer exists (snapshots go when deleteSnapshot removes them or the process that made them exits)`);
  // The name alone is no proof: anyone can put a link of that name into /tmp, and the
  // copy would then be of whatever it points at (another user's or the host's files).
  if (kind.includes('foreign'))
    throw new AgentixError('INVALID_ARGUMENT', `${refused} ${JSON.stringify(ref)} is not a local snapshot of this user (it, or its root, is a symlink, not a directory, or another user's)`);
  return snap;
}

/** Snapshot dir → the copies of it under way (forkSnapshot): removeLocalSnapshot lets them finish first. */
const copying = new Map<string, Set<Promise<void>>>();
/** Snapshot dirs a removeLocalSnapshot is removing: no new copy of them starts. */
const removing = new Set<string>();

/**
 * A working copy of a snapshot for a new sandbox: the snapshot stays as it is,
 * so any number of sandboxes can start from it. Returns the copy's temp dir
 * and the directory to run in.
 */
export async function forkSnapshot(ref: string): Promise<{ dir: string; workdir: string }> {
  const snap = localSnapshotDir(ref, 'invalid SandboxConfig: `image`');
  if (removing.has(snap)) throw new AgentixError('NOT_FOUND', `invalid SandboxConfig: \`image\` ${JSON.stringify(ref)}: that local snapshot is being removed (deleteSnapshot)`);
  const dir = localTempDir('fork');
  // registered before the first await: a removal that starts from here on waits for this copy
  const copy = copyTree(join(snap, 'root'), join(dir, 'root'));
  const pending = copying.get(snap) ?? new Set();
  copying.set(snap, pending.add(copy));
  try {
    await copy;
  } catch (err) {
    removeLocalTempDir(dir);
    throw new AgentixError('UNAVAILABLE', `cannot copy local snapshot ${snap}: ${(err as Error).message}`);
  } finally {
    pending.delete(copy);
    if (pending.size === 0 && copying.get(snap) === pending) copying.delete(snap);
  }
  return { dir, workdir: join(dir, 'root') };
}

/**
 * Removes local snapshot `ref` (deployment.deleteSnapshot). Sandboxes started
 * from it run in copies of their own and keep running; a copy of it under way
 * in this process (a create from it) finishes first, so no sandbox starts
 * from half a snapshot. Only what localSnapshotDir accepts is removed: never
 * a link of that name, nor anything outside the host's temp dir.
 */
export async function removeLocalSnapshot(ref: string): Promise<void> {
  const refused = 'cannot delete snapshot';
  if (!isLocalSnapshot(ref)) throw new AgentixError('INVALID_ARGUMENT', `${refused} ${JSON.stringify(ref)}: not a local snapshot reference (snapshot() of the local deployment returns \`${LOCAL_SNAPSHOT_SCHEME}<dir>\`)`);
  const snap = localSnapshotDir(ref, refused);
  if (removing.has(snap)) throw new AgentixError('NOT_FOUND', `${refused} ${JSON.stringify(ref)}: another deleteSnapshot is removing it`);
  removing.add(snap);
  try {
    await Promise.allSettled([...(copying.get(snap) ?? [])]);
    removeLocalTempDir(snap);
  } catch (err) {
    throw new AgentixError('UNAVAILABLE', `${refused} ${JSON.stringify(ref)}: ${(err as Error).message}`);
  } finally {
    removing.delete(snap);
  }
}

/** The temp dirs of local sandboxes whose process is gone (a crash or SIGKILL skips the exit hook). */
export function localGarbage(opts: { keep?: (pid: number) => boolean; dryRun?: boolean } = {}): Removed[] {
  const removed: Removed[] = [];
  for (const d of listPidTempDirs(KINDS.map(prefixOf))) {
    if (opts.keep ? opts.keep(d.pid) : processAlive(d.pid)) continue;
    if (!opts.dryRun) removeTree(d.path);
    removed.push({ kind: d.prefix === prefixOf('snapshot') ? 'snapshot' : 'directory', id: basename(d.path), name: d.path, bundle: '', where: 'local' });
  }
  return removed;
}

/**
 * Copies the tree at `from` to `to` (which must not exist).
 *
 * Asynchronous, several files at a time: the default working directory is
 * the whole project (node_modules included), and the synchronous copy
 * (cpSync) this replaces stopped the host process for seconds: every other sandbox's calls, a
 * pool's 1 s health looks and all timers waited for it.
 *
 * Symlinks are not followed (a link to a host file stays a link, the file is
 * not copied in). A link to something inside `from` points at the same place
 * inside `to`: an absolute one kept verbatim would reach into the original,
 * and a fork writing through it changed the original's file. A relative link
 * that leaves `from` is made absolute, so it still reaches what it reached.
 * FIFOs, sockets and device nodes are left out (a socket means nothing without
 * the process listening on it, Node cannot make a FIFO or device node, and
 * reading a FIFO would hang). An entry that vanishes while the tree is copied
 * is left out too: the sandbox keeps running and may delete its temp files.
 */
async function copyTree(from: string, to: string): Promise<void> {
  const roots = [resolve(from)];
  const real = await realpath(from);
  if (real !== roots[0]) roots.push(real);
  const st = await lstat(from);
  if (!st.isDirectory()) throw new Error(`${from} is not a directory`);
  // a working directory that holds the host's temp dir (workdir: '/tmp', or '/') would be
  // copied into itself, level after level, until the path is too long or the disk is full
  const into = join(await realpath(dirname(to)), basename(to));
  const holder = roots.find((r) => into.startsWith(r + sep));
  if (holder !== undefined) throw new Error(`it contains ${dirname(to)}, where the copy goes (the host's temp dir): a working directory to snapshot must not hold the temp dir`);
  const slots = limiter(COPY_CONCURRENCY);
  const inside = (abs: string) => roots.find((r) => abs === r || abs.startsWith(r + sep));

  const copyEntry = async (src: string, dst: string, st: Stats): Promise<void> => {
    if (st.isDirectory()) {
      // writable by us while its entries go in (a read-only directory gets its own mode after)
      await mkdir(dst, { mode: (st.mode & 0o7777) | 0o700 });
      const names = await slots(() => readdir(src)).catch(vanished(() => [] as string[]));
      await Promise.all(
        names.map(async (name) => {
          const s = join(src, name);
          const child = await slots(() => lstat(s)).catch(vanished(() => undefined));
          if (child) await copyEntry(s, join(dst, name), child);
        }),
      );
      await chmod(dst, st.mode & 0o7777); // mkdir's mode goes through the umask
      await utimes(dst, st.atime, st.mtime);
    } else if (st.isFile()) {
      const done = await slots(() => copyFile(src, dst, constants.COPYFILE_FICLONE).then(() => true)).catch(vanished(() => false));
      if (done) await utimes(dst, st.atime, st.mtime);
    } else if (st.isSymbolicLink()) {
      const target = await slots(() => readlink(src)).catch(vanished(() => undefined));
      if (target === undefined) return;
      const abs = resolve(dirname(src), target);
      const root = inside(abs);
      let linked = target;
      if (root !== undefined) {
        // the same place in the copy, as absolute or relative as the link was (`../w/x` from
        // inside w leaves the tree by its name, which the copy does not have)
        const mapped = join(to, relative(root, abs));
        linked = isAbsolute(target) ? mapped : relative(dirname(dst), mapped) || '.';
      } else if (!isAbsolute(target)) linked = abs;
      await symlink(linked, dst);
    }
    // FIFOs, sockets, device nodes: left out
  };
  await copyEntry(from, to, st);
}

const COPY_CONCURRENCY = 16;

/** ENOENT (the entry went while the copy ran) → `fallback()`; anything else still fails the copy. */
function vanished<T>(fallback: () => T): (err: NodeJS.ErrnoException) => T {
  return (err) => {
    if (err.code === 'ENOENT') return fallback();
    throw err;
  };
}

/** At most `n` of the given operations at a time (a tree of 100 000 files must not open 100 000 at once). */
function limiter(n: number): <T>(op: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (op) => {
    // a finished operation hands its slot straight to the next one waiting
    if (active < n) active++;
    else await new Promise<void>((r) => queue.push(r));
    try {
      return await op();
    } finally {
      const next = queue.shift();
      if (next) next();
      else active--;
    }
  };
}

/** A directory (not a link to one) of this process's user, something else, or nothing. */
function ownDir(path: string): 'own' | 'foreign' | 'missing' {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return 'missing';
  }
  const uid = process.getuid?.();
  return st.isDirectory() && (uid === undefined || st.uid === uid) ? 'own' : 'foreign';
}
