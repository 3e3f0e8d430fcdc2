/**
 * The files root (`AGENTIX_FILES_ROOT`, default the runtime's working
 * directory) and the caller's paths in it.
 *
 * A caller's path is first taken apart as a string: resolved against the
 * root (relative) or checked to name a place under it (absolute, by the
 * root's configured or real path), `.` and `..` settled lexically; what
 * leads out is refused there. The names that remain are then walked from
 * an open handle of the root (walk.ts), where symlinks are followed only
 * while they stay inside.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { codeError, outsideError } from '../errors.js';
import { Tree, isInside } from './walk.js';

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

/**
 * The caller's path as names below the root, or EOUTSIDE. Relative paths
 * are relative to the root; absolute ones must name a place under it (by
 * its configured or its real name). `[]` is the root itself.
 */
export function rootSegments(path: unknown, root: FilesRoot, what = 'path'): string[] {
  if (typeof path !== 'string') throw codeError('EINVAL', `${what} must be a string, got ${path === null ? 'null' : typeof path}`);
  if (path === '') throw codeError('EINVAL', `${what} must not be empty (use "." for the files root)`);
  if (path.includes('\0')) throw codeError('EINVAL', `${what} contains a NUL byte`);
  const lexical = resolve(root.configured, path);
  let rel: string;
  if (isInside(lexical, root.configured)) rel = relative(root.configured, lexical);
  else if (isInside(lexical, root.real)) rel = relative(root.real, lexical);
  else throw outsideError(path, root.configured);
  return rel === '' ? [] : rel.split(sep);
}

/** An open handle of the root to walk paths from. */
export async function openRoot(root: FilesRoot): Promise<Tree> {
  // The walk opens components through /proc/self/fd (walk.ts): without it there is no safe walk.
  if (!existsSync('/proc/self/fd')) throw codeError('ENOPROC', 'the files plugin needs /proc (Linux) to resolve paths safely, and /proc is not mounted here');
  return Tree.open(root.real, [root.real, root.configured]);
}
