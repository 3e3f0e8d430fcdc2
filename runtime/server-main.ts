/**
 * `agentix-server`: the runtime server as a process. This is what a sandbox
 * runs: `node server-main.js <runDir>`, configured by the environment:
 *   AGENTIX_TOKEN       required; clients must present it
 *   AGENTIX_BIND_PORT   default 8000 (0: any free port)
 *   AGENTIX_BIND_HOST   default 0.0.0.0
 *   AGENTIX_MAX_PAYLOAD bytes per message, default 64 MiB
 *   AGENTIX_HANG_GRACE_MS   how long a worker may ignore a deadline or cancel before it is restarted (1000)
 *   AGENTIX_SHUTDOWN_GRACE_MS how long SIGTERM waits for in-flight calls (5000)
 * Prints `agentix: listening on ws://HOST:PORT` once it accepts calls.
 */
import { resolve } from 'node:path';
import * as P from './protocol.js';
import { RuntimeServer, type ServerOptions } from './server.js';

/** Starts a server and wires SIGTERM/SIGINT to a graceful shutdown followed by exit. */
export async function runServer(opts: ServerOptions, announce: (url: string) => string = (url) => `agentix: listening on ${url}`): Promise<RuntimeServer> {
  const server = new RuntimeServer(opts);
  let listening = false;
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    // Not serving yet: nothing to finish gracefully, but the worker must not outlive us.
    if (!listening) {
      server.killWorkerNow();
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
  process.on('exit', () => server.killWorkerNow());
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
    throw Object.assign(new Error(`the runtime could not start: ${(err as Error).message}`), { friendly: true });
  }
  listening = true;
  process.stdout.write(announce(url) + '\n');
  return server;
}

/** Server limits from the environment (AGENTIX_MAX_PAYLOAD, AGENTIX_HANG_GRACE_MS, AGENTIX_SHUTDOWN_GRACE_MS). */
export function envLimits(env = process.env): Pick<ServerOptions, 'maxPayload' | 'hangGraceMs' | 'shutdownGraceMs'> {
  const num = (name: string, min: number): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  return { maxPayload: num('AGENTIX_MAX_PAYLOAD', 1024), hangGraceMs: num('AGENTIX_HANG_GRACE_MS', 10), shutdownGraceMs: num('AGENTIX_SHUTDOWN_GRACE_MS', 0) };
}

export function envPort(value = process.env.AGENTIX_BIND_PORT): number {
  if (value === undefined || value === '') return P.DEFAULT_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`AGENTIX_BIND_PORT must be a port number 0-65535, got ${JSON.stringify(value)}`);
  return port;
}

const isMain = process.argv[1] && /server-main\.(ts|js|mjs)$/.test(process.argv[1]);
if (isMain) {
  try {
    const runDir = process.argv[2];
    if (!runDir) throw new Error('usage: server-main <runDir>  (a directory with manifest.json and modules/)');
    const token = process.env.AGENTIX_TOKEN;
    if (!token) throw new Error('AGENTIX_TOKEN is not set: the runtime refuses to serve without a token');
    await runServer({ runDir: resolve(runDir), token, port: envPort(), host: process.env.AGENTIX_BIND_HOST || '0.0.0.0', ...envLimits() });
  } catch (err) {
    process.stderr.write(`agentix-server: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
