/**
 * Hearing a sandbox's runtime start instead of only polling for it: the
 * runtime server prints `agentix: listening on …` to its stdout once it
 * accepts calls (runtime/server/main.ts; user code cannot write there, its
 * output goes through the server), and a container's output ends when it
 * exits. Attached before `start`, so nothing is missed; the line only wakes
 * the health wait (deploy/shared/health.ts), which still asks /health through
 * the published port before it says the sandbox is up.
 */
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { StartHints } from '../shared/health.js';
import { demuxLogs } from './logs.js';

/** The runtime's line (runtime/server/main.ts runServer's default announcement). */
const LISTENING = 'agentix: listening on ';
/** Output read while looking for the line; past it, the health wait's own poll decides. */
const MAX_LOOKED_AT = 64 * 1024;

export interface FollowedStart extends StartHints {
  /** Stops following (idempotent): the attach connection is closed. */
  close(): void;
}

/**
 * Attaches to the container's stdout before it starts. Undefined when the
 * engine refuses (the caller then polls as before): hearing the start is an
 * optimisation, never a condition of it. Bounded by `signal`.
 */
export async function followStart(container: Docker.Container, signal: AbortSignal): Promise<FollowedStart | undefined> {
  let stream: Readable;
  try {
    stream = (await container.attach({ stream: true, stdout: true, stderr: false, logs: false, abortSignal: signal } as object)) as unknown as Readable;
  } catch {
    return undefined;
  }
  let heard!: () => void;
  let ended!: () => void;
  const listening = new Promise<void>((r) => (heard = r));
  const gone = new Promise<void>((r) => (ended = r));
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    if (seen.length >= MAX_LOOKED_AT) return;
    seen = Buffer.concat([seen, chunk]);
    // the attach stream is multiplexed (no TTY): frames of 8-byte header + payload
    if (demuxLogs(seen).includes(LISTENING)) {
      heard();
      stream.off('data', onData);
      stream.resume();
    }
  };
  stream.on('data', onData);
  stream.once('end', ended);
  stream.once('close', ended);
  stream.on('error', ended); // also the abort at the startup timeout
  return {
    listening,
    ended: gone,
    close: () => {
      stream.off('data', onData);
      stream.destroy();
    },
  };
}
