/**
 * The host-side timer that deletes a sandbox at the end of its `lifetimeMs`:
 * the one deadline rule (runtime/wire/deadline.ts: a lifetime past what one
 * timer holds, 2^31-1 ms, is a chain, never the 1 ms Node would make of it),
 * unref'd: it must not keep the host process alive (after the host goes, the
 * runtime's own deadline and `agentix gc` take over).
 */
import { armDeadline, type Deadline } from '../../runtime/wire/deadline.js';

export type LifetimeTimer = Deadline;

/** Calls `onExpire` at absolute time `at` (ms since the epoch), without keeping the process alive. */
export function lifetimeTimer(at: number, onExpire: () => void): LifetimeTimer {
  return armDeadline(Math.max(at, 1), onExpire, { unref: true });
}
