/**
 * The rollout agent's own tools: functions that run *inside* each task's
 * sandbox, next to the built-in `bash` and `files` plugins. The host-side
 * policy (examples/rollout/policy.ts) decides what to call; these do the work
 * where the repository is. Paths are relative to the sandbox's working
 * directory (the task's /workspace).
 *
 * Two of them carry a deliberate fault, because an evaluation harness must
 * survive agent code that misbehaves:
 *   - `normalize` exits the process on a file that is not UTF-8 (a habit of
 *     the command-line tool it was lifted from): the runtime's worker dies,
 *     the call fails with WORKER_EXITED, the runtime starts a fresh worker.
 *   - `grep` runs whatever pattern it is given, and a backtracking pattern
 *     can spin the CPU for hours: only the caller's deadline stops it (the
 *     runtime kills the stuck worker).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';

export interface Edit {
  /** File to change, relative to the working directory. */
  path: string;
  /** Exact text to find; it must occur exactly once. */
  find: string;
  replace: string;
}

export interface EditResult {
  path: string;
  /** Line number (1-based) where the replaced text started. */
  line: number;
  bytes: number;
}

export interface Match {
  line: number;
  text: string;
}

export interface NormalizeResult {
  path: string;
  /** How many CRLF line endings became LF. */
  crlf: number;
  /** How many lines lost trailing blanks. */
  trimmed: number;
}

/** Replaces one exact occurrence of `find`; refuses when it occurs zero or several times, so an edit never lands in the wrong place. */
export async function applyEdit(edit: Edit): Promise<EditResult> {
  const file = inWorkdir(edit.path);
  const text = await readFile(file, 'utf8');
  const at = text.indexOf(edit.find);
  if (edit.find === '' || at < 0) throw Object.assign(new Error(`${edit.path}: text to replace not found`), { code: 'ENOMATCH' });
  if (text.indexOf(edit.find, at + 1) >= 0) throw Object.assign(new Error(`${edit.path}: text to replace occurs more than once`), { code: 'EAMBIGUOUS' });
  const next = text.slice(0, at) + edit.replace + text.slice(at + edit.find.length);
  await writeFile(file, next);
  return { path: edit.path, line: text.slice(0, at).split('\n').length, bytes: Buffer.byteLength(next) };
}

/** Lines of a file matching a JavaScript regular expression (at most `limit`). */
export async function grep(pattern: string, path: string, limit = 100): Promise<Match[]> {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    throw Object.assign(new Error(`invalid pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`), { code: 'EPATTERN' });
  }
  const matches: Match[] = [];
  const lines = (await readFile(inWorkdir(path), 'utf8')).split('\n');
  for (let i = 0; i < lines.length && matches.length < limit; i++) {
    // Synchronous on purpose (it is the point of the log-search task): no signal can interrupt a regex.
    if (re.test(lines[i]!)) matches.push({ line: i + 1, text: lines[i]! });
  }
  return matches;
}

/** Converts CRLF to LF and strips trailing blanks, in place. */
export async function normalize(path: string): Promise<NormalizeResult> {
  const bytes = await readFile(inWorkdir(path));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // THE DELIBERATE FAULT (see the top of this file): what a CLI does, and what a sandboxed function must not do.
    console.error(`normalize: ${path} is not valid UTF-8`);
    process.exit(3);
  }
  let crlf = 0;
  let trimmed = 0;
  const lines = text.split('\n').map((line) => {
    if (line.endsWith('\r')) crlf++;
    const clean = line.replace(/[ \t\r]+$/, '');
    if (clean.length < line.replace(/\r$/, '').length) trimmed++;
    return clean;
  });
  await writeFile(inWorkdir(path), lines.join('\n'));
  return { path, crlf, trimmed };
}

/** Resolves a path against the working directory and refuses one that leaves it. */
function inWorkdir(path: string): string {
  const root = process.cwd();
  const full = resolve(root, path);
  const rel = relative(root, full);
  if (rel.startsWith('..') || isAbsolute(rel)) throw Object.assign(new Error(`path ${JSON.stringify(path)} is outside the working directory ${root}`), { code: 'EOUTSIDE' });
  return full;
}
