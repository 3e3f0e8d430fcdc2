/**
 * Where the server and the client processes run. Every system gets the same
 * placement so that the comparison is about the software, not the scheduler:
 * split-core (server on CPU 0, client on CPU 1) by default, or both on CPU 0.
 * Child processes a server starts (Agentix's worker, the naive hop's child,
 * the socket hand-off's child) inherit its CPU affinity.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

export interface Placement {
  name: 'split-core' | 'same-core' | 'unpinned';
  serverCpu?: number;
  clientCpu?: number;
  note?: string;
}

export function choosePlacement(sameCore: boolean): Placement {
  if (!hasTaskset()) return { name: 'unpinned', note: 'taskset not found (Debian package util-linux)' };
  if (sameCore) return { name: 'same-core', serverCpu: 0, clientCpu: 0 };
  if (availableParallelism() < 2) return { name: 'same-core', serverCpu: 0, clientCpu: 0, note: 'only one CPU: split-core impossible' };
  return { name: 'split-core', serverCpu: 0, clientCpu: 1 };
}

/**
 * The placement measured besides the main one in the same run: the issue's
 * calls/s target holds "in both split-core and same-core placement". A
 * split-core run also measures unary same-core; the server stays on the same
 * CPU, so only the client moves and the servers need no restart. `--same-core`
 * and unpinned runs measure one placement only.
 */
export function otherPlacement(main: Placement): Placement | undefined {
  if (main.name !== 'split-core' || main.serverCpu === undefined) return undefined;
  return { name: 'same-core', serverCpu: main.serverCpu, clientCpu: main.serverCpu };
}

/** The argv prefix that pins a command to a CPU (empty when unpinned). */
export function pinPrefix(cpu: number | undefined): string[] {
  return cpu === undefined ? [] : ['taskset', '-c', String(cpu)];
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
