/**
 * Runs in the worker. Whether the machine's CPUs have time to spare, for work
 * that can wait: the plugins' warm-up (main.ts). Sandboxes are started in
 * waves, many per machine; a runtime that has answered its first call and
 * then spends ~50 ms of CPU importing plugin modules nobody has called yet
 * takes that time from the runtimes still starting beside it. So that work
 * waits until no task on the machine is waiting for a CPU.
 *
 * The measure is Linux's pressure stall information: the "some" line of
 * /proc/pressure/cpu counts the microseconds during which at least one
 * runnable task waited for a CPU, machine-wide (also inside a container).
 * Where it cannot be read (no PSI in the kernel, another OS) the answer is
 * "unknown" at once and the caller goes ahead as if idle.
 */
import { readFile } from 'node:fs/promises';
import { deadlineAt, isPast } from '../wire/deadline.js';

export interface CpuIdleOptions {
  /** Default /proc/pressure/cpu. */
  pressureFile?: string;
  /** Each look measures the stall over this long (default 100 ms). */
  windowMs?: number;
  /** A window during which tasks waited for a CPU less than this share of it counts as idle (default 0.25). */
  busyShare?: number;
  /** Give up waiting after this long (default 10 s): the work is done then, busy or not. */
  maxWaitMs?: number;
}

export type CpuIdleOutcome = 'idle' | 'unknown' | 'still busy';

/** Resolves once a window shows the CPUs idle, at once if that cannot be known, at the latest after `maxWaitMs`. */
export async function cpuIdle(opts: CpuIdleOptions = {}): Promise<CpuIdleOutcome> {
  const file = opts.pressureFile ?? '/proc/pressure/cpu';
  const windowMs = opts.windowMs ?? 100;
  const busyShare = opts.busyShare ?? 0.25;
  const giveUpAt = deadlineAt(opts.maxWaitMs ?? 10_000);
  let before = await stalledMicros(file);
  if (before === undefined) return 'unknown';
  while (!isPast(giveUpAt)) {
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = await stalledMicros(file);
    if (after === undefined) return 'unknown';
    const elapsedMicros = (performance.now() - started) * 1000;
    if (after - before < busyShare * elapsedMicros) return 'idle';
    before = after;
  }
  return 'still busy';
}

/** The `total=` of the file's "some" line, or undefined if it cannot be read. */
async function stalledMicros(file: string): Promise<number | undefined> {
  try {
    const text = await readFile(file, 'utf8');
    const total = /^some\b.*\btotal=(\d+)/m.exec(text)?.[1];
    return total === undefined ? undefined : Number(total);
  } catch {
    return undefined;
  }
}
