/**
 * Watching the server from outside, through /proc (Linux): the resident
 * memory of the server and of its worker, and which process the worker is.
 * Nothing here asks the runtime; a server that lies about itself is still
 * measured right.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';

/** Resident set size in bytes, or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/** The server's worker subprocess: its child running worker/main (not tsx's esbuild or anything else it started). */
export function workerPidOf(serverPid: number): number | undefined {
  return childrenOf(serverPid).find((p) => /worker[\\/]main\.(ts|js)/.test(cmdline(p)));
}

/** Pids the fixture's workers wrote to FUZZ_WORKER_LOG, in start order (one line per worker that loaded the module). */
export function workerLog(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

export interface MemoryPeaks {
  serverPeak: number;
  workerPeak: number;
  serverLast: number;
  workerLast: number;
  samples: number;
}

/** Samples the server's and its worker's RSS every `everyMs` until stopped. */
export class MemorySampler {
  private readonly peaks: MemoryPeaks = { serverPeak: 0, workerPeak: 0, serverLast: 0, workerLast: 0, samples: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly serverPid: number, everyMs = 100) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    this.sample();
  }

  sample(): MemoryPeaks {
    const s = rssBytes(this.serverPid);
    const wp = workerPidOf(this.serverPid);
    const w = wp === undefined ? undefined : rssBytes(wp);
    if (s !== undefined) (this.peaks.serverLast = s), (this.peaks.serverPeak = Math.max(this.peaks.serverPeak, s));
    if (w !== undefined) (this.peaks.workerLast = w), (this.peaks.workerPeak = Math.max(this.peaks.workerPeak, w));
    this.peaks.samples++;
    return { ...this.peaks };
  }

  stop(): MemoryPeaks {
    clearInterval(this.timer);
    return this.sample();
  }
}

export const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
