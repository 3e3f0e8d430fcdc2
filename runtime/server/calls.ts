/**
 * What the server keeps per call: just enough to route frames, to judge a
 * silent worker, and to decide, when a worker dies, which of its calls failed
 * with it and which it never started (those are sent again to the next one).
 *
 * A call lives here from its CALL until the worker's final message (or until
 * the server answers it itself, which it does only when no worker will: the
 * call was never written to one, or the worker is gone). So a call_id is free
 * on the server exactly when its final has left, which is when the protocol
 * lets a client reuse it.
 */
import { isPast } from '../wire/deadline.js';
import type { Dispatch } from './worker-supervisor.js';

export interface ServerCall extends Dispatch {
  connId: number;
  id: number;
  target: string;
  /** The client sent CANCEL. */
  cancelled: boolean;
  /** The client is gone; the worker still owes the final that retires the call. */
  orphan: boolean;
  /** Known to have started on the worker (it sent something for the call). */
  started: boolean;
  /** The CALL frame and the frames that followed it (CREDIT, INBOX_*), kept until the call is known started, to send again. */
  retained?: Uint8Array[];
  /** How often the call was sent again after a worker died before starting it. */
  resends: number;
}

/** A call sent again at most this often (a worker that keeps dying before it gets there is not waited for forever). */
export const MAX_RESENDS = 2;
/** Follow-up frames retained per unstarted call; more, and it will not be sent again. */
const MAX_RETAINED = 16;

export function newCall(connId: number, id: number, target: string, at: number, frame: Uint8Array): ServerCall {
  return { connId, id, target, at, seq: 0, generation: 0, cancelled: false, orphan: false, started: false, retained: [frame], resends: 0 };
}

/** Keeps a follow-up frame of a call that may have to be sent again. */
export function retain(call: ServerCall, frame: Uint8Array): void {
  if (!call.retained) return;
  if (call.retained.length >= MAX_RETAINED) call.retained = undefined;
  else call.retained.push(frame);
}

export function markStarted(call: ServerCall): void {
  call.started = true;
  call.retained = undefined;
}

/** Why the worker owes this call its final by now, if it does. */
export function dueReason(call: ServerCall, now: number): 'deadline' | 'cancel' | 'gone' | undefined {
  if (call.orphan) return 'gone';
  if (call.cancelled) return 'cancel';
  if (isPast(call.at, now)) return 'deadline';
  return undefined;
}

export type Verdict = { kill: false } | { kill: true; reason: string };

/** How long the runtime's own work on one message (decode, validation) may keep the worker silent before that too counts as hung. */
export const frameworkBound = (graceMs: number): number => Math.max(30_000, 10 * graceMs);

/**
 * Whether a worker that has said nothing for `silentMs` is hung — the rule
 * that tells a busy worker from a stuck one. The worker answers heartbeats
 * between slices of work, so silence longer than `graceMs` means one piece of
 * synchronous code has run that long. That is hung when
 *   - a call it started is past its deadline, cancelled, or its client is
 *     gone (a live worker would have answered it at once), or
 *   - calls wait and it has started none that is still running (it is stuck
 *     outside any call: a spinning `finally`, a timer).
 * Otherwise it is busy with a started call that nobody has given up on, and is
 * left alone. `started` reads the progress ring (undefined: unknown, counted
 * as started).
 */
export function judge(
  calls: Iterable<ServerCall>,
  generation: number,
  silentMs: number,
  graceMs: number,
  started: (call: ServerCall) => boolean | undefined,
  now = Date.now(),
  framework?: { since: number },
): Verdict {
  if (silentMs <= graceMs) return { kill: false };
  // Decoding and validating a large message is the runtime's own work, bounded by the message's size: busy.
  if (framework && now - framework.since < frameworkBound(graceMs)) return { kill: false };
  let waiting = 0;
  let running = 0;
  for (const call of calls) {
    if (call.generation !== generation) continue;
    waiting++;
    if (!(started(call) ?? true)) continue;
    running++;
    const why = dueReason(call, now);
    if (why) {
      const what = why === 'deadline' ? 'is past its deadline' : why === 'cancel' ? 'was cancelled' : 'lost its client';
      return { kill: true, reason: `the worker was unresponsive for ${silentMs} ms while call ${call.id} (${call.target}) ${what}` };
    }
  }
  if (waiting > 0 && running === 0) return { kill: true, reason: `the worker was unresponsive for ${silentMs} ms outside any call while ${waiting} call${waiting === 1 ? '' : 's'} waited` };
  return { kill: false };
}
