/**
 * The host-side timer that deletes a sandbox at the end of its `lifetimeMs`.
 * Node's setTimeout takes at most 2^31-1 ms (about 24.8 days): a longer delay
 * is silently turned into 1 ms, which would delete a sandbox with a 30-day
 * lifetime the moment it was made. So a long wait is a chain of shorter
 * timers, each unref'd: the timer must not keep the host process alive
 * (after the host goes, the runtime's own deadline and `agentix gc` take over).
 */

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LifetimeTimer {
  /** Disarms it; safe to call more than once. */
  cancel(): void;
}

/** Calls `onExpire` at absolute time `at` (ms since the epoch), without keeping the process alive. */
export function lifetimeTimer(at: number, onExpire: () => void): LifetimeTimer {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    const left = Math.max(0, at - Date.now());
    timer = left > MAX_TIMER_MS ? setTimeout(schedule, MAX_TIMER_MS) : setTimeout(onExpire, left);
    timer.unref();
  };
  schedule();
  return { cancel: () => clearTimeout(timer) };
}
