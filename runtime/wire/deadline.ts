/**
 * The one deadline rule, used by client, server and worker.
 *
 * A CALL carries `timeoutMs`: a non-negative number of milliseconds, 0 for no
 * deadline, fractions rounded up, any size honoured. The server turns it into
 * an absolute time (`deadlineAt`) the moment it receives the CALL and hands
 * that instant to the worker, so time spent queued (say, while a worker
 * restarts) counts against the call. The client counts from when it sends.
 * A deadline further away than setTimeout can wait (2^31−1 ms) is armed as a
 * chain of timers instead of firing at once or never.
 */

/** setTimeout's largest delay; longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** What the reference client sends at most (≈ 49.7 days): fits an unsigned 32-bit field everywhere. */
export const MAX_WIRE_TIMEOUT_MS = 0xffff_ffff;

/** A caller's `timeoutMs` option → the wire value (0: none; also for NaN, ±Infinity, ≤ 0 and non-numbers). */
export function toWireTimeout(timeoutMs: unknown): number {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) return 0;
  return Math.min(Math.ceil(timeoutMs), MAX_WIRE_TIMEOUT_MS);
}

/** A decoded wire `timeoutMs` → milliseconds (0: none), or undefined when it is not a non-negative number. */
export function fromWireTimeout(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.ceil(value) : value === Infinity ? 0 : undefined;
  if (typeof value === 'bigint') return value >= 0n ? Number(value) : undefined;
  return undefined;
}

/**
 * The absolute time (ms since the epoch) a call of `timeoutMs` ends at; 0 for no deadline.
 * The clock is read only for a real deadline (a default parameter would read it on every call).
 */
export function deadlineAt(timeoutMs: number, now?: number): number {
  return timeoutMs > 0 ? (now ?? Date.now()) + timeoutMs : 0;
}

export interface Deadline {
  /** Disarms it; safe to call more than once. */
  cancel(): void;
}

const NONE: Deadline = { cancel: () => undefined };

/**
 * Calls `onExpire` at absolute time `at` (ms since the epoch; 0: never). A
 * time already past fires on the next turn of the event loop, never inline.
 * A wait beyond what one timer can hold is a chain of timers. `unref`: the
 * wait does not keep the process alive (a sandbox's lifetime on the host).
 */
export function armDeadline(at: number, onExpire: () => void, opts: { unref?: boolean } = {}): Deadline {
  if (at <= 0) return NONE;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    const left = at - Date.now();
    if (left <= 0) {
      timer = setTimeout(onExpire, 0);
    } else timer = left > MAX_TIMER_MS ? setTimeout(schedule, MAX_TIMER_MS) : setTimeout(onExpire, left);
    if (opts.unref) timer.unref();
  };
  schedule();
  return { cancel: () => clearTimeout(timer) };
}

/** Whether a deadline (absolute, 0: none) has passed; the clock is read only when there is one. */
export const isPast = (at: number, now?: number): boolean => at > 0 && (now ?? Date.now()) >= at;
