/**
 * The Docker engine client that building (load, push) and the Docker
 * deployment (and the Kubernetes stand-in in tests) share. It lives in
 * bundle/ because deploy/ depends on bundle/, never the other way round.
 *
 * Configuration: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH (dockerode's
 * defaults: /var/run/docker.sock).
 */
import { existsSync } from 'node:fs';
import Docker from 'dockerode';

/** Bound for engine calls that have no other budget to count against (dockerode itself waits for ever). */
export const ENGINE_CALL_MS = 60_000;

/**
 * A dockerode client for the engine the environment names, checked cheaply
 * and synchronously: with DOCKER_HOST unset (or unix://) the socket must
 * exist. Whether the engine answers is checked at first use (`pingEngine`).
 */
export function dockerFromEnv(): Docker {
  const host = process.env.DOCKER_HOST;
  const socket = !host ? '/var/run/docker.sock' : host.startsWith('unix://') ? host.slice(7) || '/var/run/docker.sock' : undefined;
  if (socket !== undefined && !existsSync(socket))
    throw new Error(
      `no Docker engine: ${socket} does not exist${host ? ` (DOCKER_HOST=${host})` : ''}. ` +
        'Start dockerd (on CI machines: bash .ci/docker.sh) or point DOCKER_HOST at a running engine.',
    );
  if (host && !/^(unix|tcp|npipe|ssh|http|https):\/\//.test(host))
    throw new Error(`DOCKER_HOST=${host} is not understood: use unix:///path/to/docker.sock or tcp://HOST:PORT`);
  try {
    return new Docker();
  } catch (err) {
    throw new Error(`cannot configure the Docker client from DOCKER_HOST=${host ?? ''}: ${(err as Error).message}`);
  }
}

/** Fails with an actionable message when the engine does not answer. */
export async function pingEngine(docker: Docker, where = engineAddress()): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`the Docker engine at ${where} does not answer (${(err as Error).message}). Is dockerd running? (on CI machines: bash .ci/docker.sh)`);
  }
}

/** The engine the environment names, for messages. */
export function engineAddress(): string {
  return process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

/** HTTP status of a dockerode error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode?: number }).statusCode : undefined;
}

/** The engine's own message (dockerode wraps it as `(HTTP code 404) no such container - No such image: …`). */
export function dockerMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return e?.json?.message ?? e?.message ?? String(err);
}

/** Options that bound one engine call: dockerode itself would wait for ever on an engine that never answers. */
export function bounded(ms = ENGINE_CALL_MS): { abortSignal: AbortSignal } {
  return { abortSignal: AbortSignal.timeout(ms) };
}

/** True for the error an aborted (timed-out) call rejects with. */
export const isTimeout = (err: unknown): boolean => err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
