/**
 * Waiting for a sandbox's runtime to answer `GET /health` (no token needed),
 * bounded by the sandbox's startup time. Docker follows the container's
 * output for the runtime's own word (deploy/docker/ready.ts) and polls slowly
 * until then, or polls fast from the start when it cannot follow it;
 * Kubernetes waits for the pod's readiness probe (the kubelet polls the same
 * route) and then checks once through its own connection.
 */
import { request } from 'node:http';

const HEALTH_POLL_MS = 15;
/**
 * The poll while start hints are followed: only a fallback for a hint that
 * never comes (16 sandboxes polling every 15 ms through the engine's port
 * proxy cost the CPU their runtimes needed to start).
 */
const HINTED_POLL_MS = 250;
const HEALTH_REQUEST_MS = 1_000;
/** Look whether the sandbox died every this many polls, instead of waiting out the timeout. */
const LIVENESS_EVERY = 20;
/** Polls, after the runtime's output ended, at which the liveness check runs every time. */
const ENDED_CHECKS = 5;

/** One `GET http://host:port/health` (or over the Unix socket `socketPath`): true on 200, false on anything else (refused, reset, timeout). */
export function healthOk(host: string, port: number, timeoutMs = HEALTH_REQUEST_MS, socketPath?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const where = socketPath ? { socketPath } : { host, port };
    const req = request({ ...where, path: '/health', method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export interface HealthWait {
  host: string;
  port: number;
  /** Ask over this Unix socket instead of host:port (a sandbox without network). */
  socketPath?: string;
  timeoutMs: number;
  /** Aborted when the startup time is up (the caller's other waits count against it too). */
  signal: AbortSignal;
  /** Says why the sandbox will never answer (it exited), or undefined while it may still. */
  whyDead?: (signal: AbortSignal) => Promise<string | undefined>;
  /** What the runtime itself says while it starts, when the backend can hear it. */
  hints?: StartHints;
  /** The poll while no hint has come yet (default HINTED_POLL_MS). */
  hintedPollMs?: number;
}

/** Events that wake a health wait at once instead of at its next poll. */
export interface StartHints {
  /** Resolves when the runtime says it accepts calls (its `agentix: listening on …` line). */
  listening: Promise<void>;
  /** Resolves when the runtime's output ended: it exited (or the backend lost it: then whyDead tells). */
  ended: Promise<void>;
}

/** The message a health wait that ran out of time fails with (callers match it to tell timeouts apart). */
export function notHealthyWithin(timeoutMs: number): string {
  return `the runtime did not answer /health within ${timeoutMs} ms`;
}

/**
 * Polls /health until it answers 200, the sandbox dies, or the time is up.
 * With hints it polls slowly, and at once when the runtime says it listens
 * (then fast until it answers) or its output ends (then asks whyDead at once).
 */
export async function waitHealthy(w: HealthWait): Promise<void> {
  let polls = 0;
  let heard = false;
  let ended = false;
  /** Liveness checks still to make at every poll: the engine may close the output just before it marks the container exited. */
  let checkNow = 0;
  const listening = w.hints?.listening.then(() => void (heard = true), () => undefined);
  const gone = w.hints?.ended.then(() => void ((ended = true), (checkNow = ENDED_CHECKS)), () => undefined);
  for (;;) {
    if (await healthOk(w.host, w.port, HEALTH_REQUEST_MS, w.socketPath)) return;
    if (w.signal.aborted) throw new Error(notHealthyWithin(w.timeoutMs));
    const check = checkNow > 0 ? checkNow-- > 0 : ++polls % LIVENESS_EVERY === 0;
    if (w.whyDead && check) {
      const dead = await w.whyDead(w.signal).catch((err) => {
        if (w.signal.aborted) throw new Error(notHealthyWithin(w.timeoutMs));
        throw err;
      });
      if (dead) throw new Error(dead);
    }
    // A hint wakes the wait once; after it, the fast poll (the runtime is up, or gone and whyDead will say so).
    const wakers = [heard ? undefined : listening, ended ? undefined : gone].filter((p) => p !== undefined);
    await pause(w.hints && wakers.length === 2 ? (w.hintedPollMs ?? HINTED_POLL_MS) : HEALTH_POLL_MS, w.signal, wakers);
  }
}

/** Sleeps `ms`, or less when the signal aborts or one of `wakers` settles. */
function pause(ms: number, signal: AbortSignal, wakers: Promise<void>[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    for (const p of wakers) void p.then(done);
  });
}
