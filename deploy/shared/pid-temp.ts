/**
 * Host temp dirs named after the process that made them,
 * `<prefix>-<pid>-XXXXXX` directly in the host's temp dir: what a deployment
 * keeps beside a sandbox there (a local snapshot, a socket directory). The
 * pid in the name is how `agentix gc` finds what a crashed process left, and
 * the exact place and form are how a path from a label or a snapshot
 * reference is known to be one of these before anything removes it.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

export interface PidTempDir {
  path: string;
  prefix: string;
  /** The process that made it. */
  pid: number;
}

const pattern = (prefix: string) => new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-[A-Za-z0-9]+$`);

/** A fresh private (0700) temp dir of this process. */
export function makePidTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-${process.pid}-`));
}

/** True when `dir` is a temp dir `makePidTempDir(prefix)` makes (of any process). */
export function isPidTempDir(dir: string | undefined, prefix: string): dir is string {
  return !!dir && dirname(resolve(dir)) === resolve(tmpdir()) && pattern(prefix).test(basename(dir));
}

/** Every such temp dir of these prefixes on this host, whoever made it. */
export function listPidTempDirs(prefixes: readonly string[]): PidTempDir[] {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return [];
  }
  const forms = prefixes.map((prefix) => ({ prefix, re: pattern(prefix) }));
  return names.flatMap((name) => {
    for (const { prefix, re } of forms) {
      const m = re.exec(name);
      if (m) return [{ path: join(tmpdir(), name), prefix, pid: Number(m[1]) }];
    }
    return [];
  });
}
