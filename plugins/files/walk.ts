/**
 * Path resolution for the files plugin through open directory handles, so a
 * symlink swapped in between check and use cannot lead outside the tree.
 *
 * Node has no openat(); Linux gives the same through /proc: a lookup of
 * `/proc/self/fd/<dirfd>/<name>` starts in the directory the fd refers to
 * (the magic link is followed to that very directory, whatever happened to
 * its path since), and O_NOFOLLOW applies to `<name>`. So every component
 * is opened on its own, relative to the directory handle of the one before,
 * without following symlinks (O_PATH: no read permission needed, no side
 * effects, a fifo does not block); a symlink is read and its target resolved
 * the same way, under our own rules: it may not lead out of the tree's base
 * (`..` past the base, or an absolute target elsewhere). The result is a
 * handle, and operations use that handle (`/proc/self/fd/<fd>`), never the
 * path again.
 *
 * Cost is linear in the components walked (each symlink adds its target's),
 * bounded by MAX_STEPS and MAX_LINKS, and the call's AbortSignal is checked
 * as it goes.
 *
 * What it does not guard against: a directory on the way moved (renamed) out
 * of the base while the walk is inside it — the walk then goes on in it,
 * wherever it now is. `..` (from a symlink target) is checked against the
 * directory the walk came from and fails with ERACE if that moved.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { close as closeCb, constants, fstat as fstatCb, open as openCb, type Stats } from 'node:fs';
import { mkdir, readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { isAbsolute, relative, sep } from 'node:path';
import { abortError, codeError } from '../errors.js';

/** O_PATH (Linux; the same value on x86-64 and arm64): a handle for lookups only. */
const O_PATH = 0o10000000;
const { O_DIRECTORY, O_NOFOLLOW } = constants;
/** Components looked at in one resolution, symlink targets' included. */
export const MAX_STEPS = 8192;
/** Symlinks followed in one resolution (the kernel's own limit). */
export const MAX_LINKS = 40;

// Plain descriptors (fs/promises has only FileHandle objects): they go into /proc/self/fd paths.
export const open = promisify(openCb) as (path: string, flags: number, mode?: number) => Promise<number>;
export const fstat = promisify(fstatCb) as (fd: number) => Promise<Stats>;
export const close = promisify(closeCb) as (fd: number) => Promise<void>;

/** A path to a directory handle, for operations that take a path. */
export const fdPath = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

export type Kind = 'file' | 'dir' | 'symlink' | 'other' | 'missing';

/** A directory reached by the walk. Only the current one (and the base) hold an open handle. */
export interface Dir {
  fd: number | undefined;
  /** dev:ino, to check a `..` lands where the walk came from. */
  ident: string;
  /** The directory the walk came from (undefined for the base). */
  up: Dir | undefined;
}

/** Where the walk stands: a real directory, and below it names of directories that do not exist (yet). */
export interface Pos {
  dir: Dir;
  virtual: string[];
}

/** What a name is, as seen by the walk (the disk, or what an upload is about to create). */
export interface Entry {
  kind: Kind;
  /** An O_PATH handle of the entry itself (disk entries that exist). */
  fd?: number;
  ident?: string;
  /** A symlink's target. */
  target?: string;
  /** The disk entry's own stat (not followed). */
  stats?: Stats;
}

/** What an upload's earlier entries will have created: consulted before the disk (tar.ts). */
export interface Overlay {
  get(key: string): Entry | undefined;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component (read, write, list); upload entries do not. */
  followLast: boolean;
  /** Missing directories on the way: fail (ENOENT), create them, or go on by name only (checks). */
  missing: 'fail' | 'create' | 'virtual';
  /** The error for a path that leads out of the base. */
  outside: () => Error;
  /** For messages: the path as the caller gave it. */
  path: string;
  signal?: AbortSignal;
  overlay?: Overlay;
}

/** The result: the last component and the directory it is in (name '' when the path is that directory itself). */
export interface Leaf {
  pos: Pos;
  name: string;
  entry: Entry;
}

const identOf = (st: Stats) => `${st.dev}:${st.ino}`;

/** Whether `path` names `dir` or a place below it (by the strings: `..` in `path` taken lexically). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

function kindOf(st: Stats): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** A key naming a place, for the overlay: the real directory's identity and the names below it. */
export function placeKey(pos: Pos, name: string): string {
  return pos.virtual.length === 0 ? `${pos.dir.ident}/${name}` : `${pos.dir.ident}/${pos.virtual.join('/')}/${name}`;
}

/**
 * A directory tree to resolve paths in, with every handle it opens, all
 * closed by close(). One per operation.
 */
export class Tree {
  private readonly open = new Set<number>();

  private constructor(readonly base: Dir, private readonly aliases: string[]) {}

  /**
   * Opens the base directory. `aliases` are absolute paths that name it
   * (its real path, the path it was configured as): an absolute symlink
   * target under one of them stays inside.
   */
  static async open(path: string, aliases: string[]): Promise<Tree> {
    const fd = await open(path, O_PATH | O_DIRECTORY);
    const tree = new Tree({ fd, ident: identOf(await fstat(fd)), up: undefined }, aliases);
    tree.open.add(fd);
    return tree;
  }

  /** A tree whose base is a directory this one reached (an upload's target directory). */
  subtree(dirFd: number, aliases: string[]): Promise<Tree> {
    return Tree.open(fdPath(dirFd), aliases);
  }

  async close(): Promise<void> {
    const fds = [...this.open];
    this.open.clear();
    await Promise.all(fds.map((fd) => close(fd).catch(() => undefined)));
  }

  /** Closes one handle the tree opened (a leaf's, once used). */
  async release(fd: number | undefined): Promise<void> {
    if (fd === undefined || !this.open.delete(fd)) return;
    await close(fd).catch(() => undefined);
  }

  /** Closes the handles a leaf holds (its entry's and its directory's, unless that is the base). */
  async done(leaf: Leaf): Promise<void> {
    await this.release(leaf.entry.fd);
    if (leaf.pos.dir !== this.base) {
      await this.release(leaf.pos.dir.fd);
      leaf.pos.dir.fd = undefined;
    }
  }

  /** Resolves `segments` (names relative to the base, no `.` or `..`) to a leaf. */
  async resolve(segments: string[], opts: ResolveOptions): Promise<Leaf> {
    let pos: Pos = { dir: this.base, virtual: [] };
    const todo = segments.slice().reverse();
    let steps = 0;
    let links = 0;
    while (todo.length > 0) {
      const name = todo.pop()!;
      const last = todo.length === 0;
      if (++steps > MAX_STEPS) throw codeError('ENAMETOOLONG', `path "${opts.path}" takes more than ${MAX_STEPS} steps to resolve (components plus those of symlink targets)`);
      if ((steps & 63) === 0 && opts.signal?.aborted) throw abortError(opts.signal);
      if (name === '' || name === '.') continue;
      if (name === '..') {
        pos = await this.up(pos, opts);
        continue;
      }
      const entry = await this.lookup(pos, name, opts.overlay);
      if (last && !(opts.followLast && entry.kind === 'symlink')) return { pos, name, entry };
      switch (entry.kind) {
        case 'symlink': {
          await this.release(entry.fd);
          if (++links > MAX_LINKS) throw codeError('ELOOP', `too many levels of symbolic links in "${opts.path}"`);
          const target = entry.target ?? '';
          let rest = target;
          if (isAbsolute(target)) {
            const alias = this.aliases.find((a) => isInside(target, a));
            if (alias === undefined) throw opts.outside();
            pos = await this.moveTo(pos, { dir: this.base, virtual: [] });
            rest = relative(alias, target);
          }
          const parts = rest.split('/');
          for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]!);
          continue;
        }
        case 'dir':
          if (entry.fd === undefined) pos = { dir: pos.dir, virtual: [...pos.virtual, name] };
          else pos = await this.moveTo(pos, { dir: { fd: entry.fd, ident: entry.ident!, up: pos.dir }, virtual: [] });
          continue;
        case 'missing':
          if (opts.missing === 'fail') throw codeError('ENOENT', `path "${opts.path}" does not exist (no directory "${name}" on the way)`);
          if (opts.missing === 'virtual' || pos.virtual.length > 0) {
            pos = { dir: pos.dir, virtual: [...pos.virtual, name] };
            continue;
          }
          await mkdir(fdPath(pos.dir.fd!, name)).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'EEXIST') throw err; // made meanwhile: looked at again below
          });
          todo.push(name); // look again: now a directory (or whatever won a race, checked as usual)
          continue;
        default:
          await this.release(entry.fd);
          throw codeError('ENOTDIR', `path "${opts.path}": "${name}" on the way is not a directory`);
      }
    }
    return { pos, name: '', entry: { kind: 'dir' } };
  }

  /** What `name` is in `pos`: what the overlay says, else the disk, without following a symlink. */
  async lookup(pos: Pos, name: string, overlay?: Overlay): Promise<Entry> {
    const planned = overlay?.get(placeKey(pos, name));
    if (planned) return planned;
    if (pos.virtual.length > 0) return { kind: 'missing' };
    let fd: number;
    try {
      fd = await open(fdPath(pos.dir.fd!, name), O_PATH | O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw err;
    }
    this.open.add(fd);
    const st = await fstat(fd);
    const kind = kindOf(st);
    if (kind === 'symlink') {
      const target = await readlink(fdPath(pos.dir.fd!, name)).catch((err: NodeJS.ErrnoException) => {
        // Replaced by something else since it was opened.
        throw codeError('ERACE', `"${name}" changed while it was being looked at (${err.code})`);
      });
      return { kind, fd, ident: identOf(st), target, stats: st };
    }
    return { kind, fd, ident: identOf(st), stats: st };
  }

  /** `..`: a name less below a missing directory, else the directory the walk came from, checked to be its parent still. */
  private async up(pos: Pos, opts: ResolveOptions): Promise<Pos> {
    if (pos.virtual.length > 0) return { dir: pos.dir, virtual: pos.virtual.slice(0, -1) };
    const parent = pos.dir.up;
    if (!parent) {
      // At the top of the filesystem `..` is `/` itself, as for the kernel.
      if (this.aliases.includes(sep)) return pos;
      throw opts.outside();
    }
    const fd = await open(fdPath(pos.dir.fd!, '..'), O_PATH | O_DIRECTORY);
    this.open.add(fd);
    if (identOf(await fstat(fd)) !== parent.ident) {
      await this.release(fd);
      throw codeError('ERACE', `path "${opts.path}": a directory on the way moved while it was being resolved`);
    }
    return this.moveTo(pos, { dir: { fd, ident: parent.ident, up: parent.up }, virtual: [] });
  }

  /** Moves on from `from` to `to`, closing the handle left behind (never the base's). */
  private async moveTo(from: Pos, to: Pos): Promise<Pos> {
    if (from.dir !== this.base && from.dir.fd !== to.dir.fd) {
      await this.release(from.dir.fd);
      from.dir.fd = undefined;
    }
    return to;
  }
}
