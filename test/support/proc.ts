/** Reading other processes of this test run from /proc (Linux). */
import { readFileSync } from 'node:fs';

/** Resident set size of `pid` in bytes (0 once it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples the RSS of each pid every `everyMs` while `during` runs; resolves with the peak of each. */
export async function peakRss<T>(pids: number[], during: Promise<T>, everyMs = 20): Promise<{ result: T; peaks: number[] }> {
  const peaks = pids.map(rssOf);
  const timer = setInterval(() => pids.forEach((p, i) => (peaks[i] = Math.max(peaks[i]!, rssOf(p)))), everyMs);
  try {
    const result = await during;
    return { result, peaks };
  } finally {
    clearInterval(timer);
  }
}

export const MiB = 1024 * 1024;
