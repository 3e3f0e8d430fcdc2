/**
 * `agentix-server`: the runtime server as a process. This is what a sandbox
 * runs: `node server/main.js <runDir>` (`server-main.js` in a bundle),
 * configured by the environment:
 *   AGENTIX_TOKEN             the token clients must present, or
 *   AGENTIX_TOKEN_FILE        a file holding it (kept out of `ps` and of /proc/<pid>/environ)
 *   AGENTIX_BIND_PORT         default 8000 (0: any free port)
 *   AGENTIX_BIND_HOST         default 0.0.0.0
 *   AGENTIX_BIND_SOCKET       listen on this Unix socket instead of a port
 *   AGENTIX_MAX_PAYLOAD       bytes per message, default 64 MiB
 *   AGENTIX_HANG_GRACE_MS     how long a worker may stay silent while it owes an answer (1000)
 *   AGENTIX_SHUTDOWN_GRACE_MS how long SIGTERM waits for in-flight calls (5000)
 *   AGENTIX_SEND_QUEUE_BYTES  bytes queued towards one client before it counts as not reading (8 MiB)
 *   AGENTIX_STUCK_CLIENT_MS   how long such a client may make no progress before it is disconnected (30000)
 *   AGENTIX_REQUEST_TIMEOUT_MS how long a TCP connection may take to send its HTTP request (10000)
 *   AGENTIX_LIFETIME_MS       the server shuts itself down this long after it started (0: never)
 * Prints `agentix: listening on ws://HOST:PORT` once it accepts calls.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { armDeadline, deadlineAt } from '../wire/deadline.js';
import { AgentixError } from '../wire/errors.js';
import * as L from '../wire/limits.js';
import type { RuntimeServer, ServerOptions } from './server.js';
import { startWorkerEarly } from './worker-supervisor.js';

/** Starts a server and wires SIGTERM/SIGINT to a graceful shutdown followed by exit. */
export async function runServer(opts: ServerOptions, announce: (url: string) => string = (url) => `agentix: listening on ${url}`): Promise<RuntimeServer> {
  // The worker's node starts before this process loads the server's own modules (ws, msgpackr and the
  // rest of server.ts): on a second core the two start-ups overlap. The server takes this worker over.
  const worker = startWorkerEarly(opts);
  let server: RuntimeServer | undefined;
  // The server's own worker once there is a server (it took the early one over, or made its own).
  const killWorker = () => (server ? server.killWorkerNow() : worker.killNow());
  let listening = false;
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    // Not serving yet: nothing to finish gracefully, but the worker must not outlive us.
    if (!listening || !server) {
      killWorker();
      process.exit(1);
    }
    server.close(`server received ${why}`).then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`agentix: shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  // Installed before listening: a signal during start-up must not orphan the worker.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('exit', killWorker);
  try {
    const { RuntimeServer } = await import('./server.js');
    server = new RuntimeServer(opts);
  } catch (err) {
    worker.killNow();
    throw err;
  }
  // The local deployment keeps our stdin open; when its host process dies, we go too.
  if (process.env.AGENTIX_EXIT_WITH_STDIN === '1') {
    process.stdin.on('end', () => stop('end of stdin (the host went away)'));
    process.stdin.on('error', () => stop('end of stdin (the host went away)'));
    process.stdin.resume();
  }
  let url: string;
  try {
    ({ url } = await server.listen());
  } catch (err) {
    // Let the process end: the lifeline would keep it alive for nothing.
    process.stdin.destroy();
    throw new AgentixError('UNAVAILABLE', `the runtime could not start: ${(err as Error).message}`);
  }
  listening = true;
  const lifetime = envLimits().lifetimeMs ?? 0;
  if (lifetime > 0) armDeadline(deadlineAt(lifetime), () => stop(`the end of its lifetime (AGENTIX_LIFETIME_MS=${lifetime})`));
  process.stdout.write(announce(url) + '\n');
  return server;
}

/** Server limits from the environment (see the list at the top of this file). */
export function envLimits(env = process.env): Pick<ServerOptions, 'maxPayload' | 'hangGraceMs' | 'shutdownGraceMs' | 'sendQueueBytes' | 'stuckClientMs' | 'requestTimeoutMs'> & { lifetimeMs?: number } {
  const num = (name: string, min: number): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  return {
    maxPayload: num('AGENTIX_MAX_PAYLOAD', 1024),
    hangGraceMs: num('AGENTIX_HANG_GRACE_MS', 10),
    shutdownGraceMs: num('AGENTIX_SHUTDOWN_GRACE_MS', 0),
    sendQueueBytes: num('AGENTIX_SEND_QUEUE_BYTES', 1024),
    stuckClientMs: num('AGENTIX_STUCK_CLIENT_MS', 10),
    requestTimeoutMs: num('AGENTIX_REQUEST_TIMEOUT_MS', 10),
    lifetimeMs: num('AGENTIX_LIFETIME_MS', 0),
  };
}

export function envPort(value = process.env.AGENTIX_BIND_PORT): number {
  if (value === undefined || value === '') return L.DEFAULT_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`AGENTIX_BIND_PORT must be a port number 0-65535, got ${JSON.stringify(value)}`);
  return port;
}

/**
 * The token from AGENTIX_TOKEN_FILE (trimmed) or AGENTIX_TOKEN. Both are
 * removed from this process's environment once read, so no child inherits them.
 * (The kernel's copy in /proc/<pid>/environ cannot be changed: see
 * docs/protocol.md, "Authentication", for what the token does and does not protect.)
 */
export function envToken(env = process.env): string | undefined {
  const file = env.AGENTIX_TOKEN_FILE;
  let token = env.AGENTIX_TOKEN;
  if (file) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new Error(`AGENTIX_TOKEN_FILE=${file} cannot be read: ${(err as Error).message}`);
    }
  }
  delete env.AGENTIX_TOKEN;
  delete env.AGENTIX_TOKEN_FILE;
  return token || undefined;
}

const isMain = process.argv[1] && /(server-main|server[\\/]main)\.(ts|js|mjs)$/.test(process.argv[1]);
if (isMain) {
  try {
    const runDir = process.argv[2];
    if (!runDir) throw new Error('usage: server/main <runDir>  (a directory with manifest.json and modules/)');
    const token = envToken();
    if (!token) throw new Error('AGENTIX_TOKEN (or AGENTIX_TOKEN_FILE) is not set: the runtime refuses to serve without a token');
    const socketPath = process.env.AGENTIX_BIND_SOCKET || undefined;
    const { lifetimeMs: _lifetime, ...limits } = envLimits();
    await runServer({ runDir: resolve(runDir), token, port: envPort(), host: process.env.AGENTIX_BIND_HOST || '0.0.0.0', socketPath, ...limits });
  } catch (err) {
    process.stderr.write(`agentix-server: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
