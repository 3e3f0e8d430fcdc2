/**
 * One cheap look whether a sandbox still answers: `GET /health` on its
 * runtime URL, TCP (`ws://host:port`) or Unix socket (`ws+unix:///path`).
 * The pool asks it before handing out a sandbox that sat idle, because a
 * sandbox can die while nobody watches it (OOM, its lifetime, `docker kill`)
 * and a dead one must not reach a user. On loopback it costs about a
 * millisecond, less than `deployment.get` (an engine round trip on Docker).
 */
import type { RequestOptions } from 'node:http';
import { healthOk } from './shared/health.js';

const DEFAULT_TIMEOUT_MS = 1_000;

/** Where `runtimeUrl` is reached, as `http.request` options, or undefined for a URL it cannot read. */
function target(runtimeUrl: string): Pick<RequestOptions, 'host' | 'port' | 'socketPath'> | undefined {
  if (runtimeUrl.startsWith('ws+unix://')) {
    // The `ws` package's form: the socket path, then optionally `:` and a request path.
    const rest = runtimeUrl.slice('ws+unix://'.length);
    const socketPath = rest.split(':')[0];
    return socketPath ? { socketPath } : undefined;
  }
  try {
    const u = new URL(runtimeUrl);
    if (u.protocol !== 'ws:' && u.protocol !== 'http:') return undefined;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
  } catch {
    return undefined;
  }
}

/** True when the runtime at `runtimeUrl` answers /health with 200 within `timeoutMs`; false on anything else. */
export function sandboxAnswers(runtimeUrl: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<boolean> {
  const where = target(runtimeUrl);
  if (!where) return Promise.resolve(false);
  return healthOk(where.host ?? '', Number(where.port ?? 0), timeoutMs, where.socketPath);
}
