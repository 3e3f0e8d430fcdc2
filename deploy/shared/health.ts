/**
 * Waiting for a sandbox's runtime to answer `GET /health` (no token needed),
 * bounded by the sandbox's startup time. Docker polls it from the start;
 * Kubernetes waits for the pod's readiness probe (the kubelet polls the same
 * route) and then checks once through its own connection.
 */
import { request } from 'node:http';

const HEALTH_POLL_MS = 15;
const HEALTH_REQUEST_MS = 1_000;
/** Look whether the sandbox died every this many polls, instead of waiting out the timeout. */
const LIVENESS_EVERY = 20;

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
}

/** The message a health wait that ran out of time fails with (callers match it to tell timeouts apart). */
export function notHealthyWithin(timeoutMs: number): string {
  return `the runtime did not answer /health within ${timeoutMs} ms`;
}

/** Polls /health every few ms until it answers 200, the sandbox dies, or the time is up. */
export async function waitHealthy(w: HealthWait): Promise<void> {
  let polls = 0;
  for (;;) {
    if (await healthOk(w.host, w.port, HEALTH_REQUEST_MS, w.socketPath)) return;
    if (w.signal.aborted) throw new Error(notHealthyWithin(w.timeoutMs));
    if (w.whyDead && ++polls % LIVENESS_EVERY === 0) {
      const dead = await w.whyDead(w.signal).catch((err) => {
        if (w.signal.aborted) throw new Error(notHealthyWithin(w.timeoutMs));
        throw err;
      });
      if (dead) throw new Error(dead);
    }
    await new Promise((r) => setTimeout(r, HEALTH_POLL_MS));
  }
}
