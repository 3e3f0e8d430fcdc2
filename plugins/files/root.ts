/**
 * Confinement of the files plugin to one directory tree, the files root
 * (`AGENTIX_FILES_ROOT`, default the runtime's working directory).
 *
 * A path is inside when its real location — every symlink of the part that
 * exists resolved — lies under the root's real location. This catches `..`,
 * absolute paths elsewhere, and symlinks inside the root that point out.
 * It guards against mistakes, not against a hostile process in the sandbox
 * racing to swap a directory for a symlink between check and use (anyone
 * who can call bash.run can read any file anyway).
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** The error for a path outside the root; `code` travels to the caller as a field of the remote error. */
export function outsideError(path: string, root: string): Error & { code: string } {
  return Object.assign(new Error(`path "${path}" escapes the files root "${root}"`), { code: 'EOUTSIDE', path, root });
}

export function codeError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

export interface FilesRoot {
  /** As configured (what error messages name). */
  configured: string;
  /** Its real location. */
  real: string;
}

/** Read per call, so a test (or a worker) may point it elsewhere at any time. */
export async function filesRoot(): Promise<FilesRoot> {
  const configured = resolve(process.env.AGENTIX_FILES_ROOT || process.cwd());
  try {
    return { configured, real: await realpath(configured) };
  } catch (err) {
    throw codeError('ENOROOT', `the files root "${configured}" is not usable: ${(err as Error).message} (set AGENTIX_FILES_ROOT to an existing directory)`);
  }
}

export function isInside(path: string, root: string): boolean {
  if (path === root) return true;
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * Where `path` really is: the real path of its deepest existing ancestor
 * with the rest appended. A dangling symlink counts by where it points.
 */
export async function realLocation(path: string, links = 0): Promise<string> {
  if (links > 40) throw codeError('ELOOP', `too many levels of symbolic links at "${path}"`);
  try {
    return await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
  }
  const parent = dirname(path);
  if (parent === path) return path;
  const realParent = await realLocation(parent, links);
  const here = join(realParent, basename(path));
  const st = await lstat(here).catch(() => undefined);
  // A link target is relative to the directory the link really is in.
  if (st?.isSymbolicLink()) return followTarget(realParent, await readlink(here), links + 1);
  return here;
}

/**
 * Where a link target leads, segment by segment as the kernel goes: `..` after
 * a symlink steps out of where that symlink leads, not back lexically. With
 * `resolve(dir, target)` a dangling `l -> door/../x` (door a symlink leading
 * outside) counted as inside although the kernel takes it outside.
 */
export async function followTarget(linkDir: string, target: string, links = 0): Promise<string> {
  let at = isAbsolute(target) ? sep : linkDir;
  for (const segment of target.split(sep)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') at = dirname(at); // `at` is real (no symlinks): its parent is the kernel's `..`
    else at = await realLocation(join(at, segment), links);
  }
  return at;
}

/**
 * Resolves a caller's path against the root and returns its real location,
 * or throws EOUTSIDE. Relative paths are relative to the root; absolute ones
 * must name a place under it (by its configured or its real name).
 */
export async function confine(path: unknown, root: FilesRoot, what = 'path'): Promise<string> {
  if (typeof path !== 'string') throw codeError('EINVAL', `${what} must be a string, got ${path === null ? 'null' : typeof path}`);
  if (path === '') throw codeError('EINVAL', `${what} must not be empty (use "." for the files root)`);
  if (path.includes('\0')) throw codeError('EINVAL', `${what} contains a NUL byte`);
  const lexical = resolve(root.configured, path);
  let rebased: string;
  if (isInside(lexical, root.configured)) rebased = join(root.real, relative(root.configured, lexical));
  else if (isInside(lexical, root.real)) rebased = lexical;
  else throw outsideError(path, root.configured);
  const real = await realLocation(rebased);
  if (!isInside(real, root.real)) throw outsideError(path, root.configured);
  return real;
}
