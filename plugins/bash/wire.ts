/**
 * Between a worker and the keeper of background commands (keeper.ts): one
 * JSON object per line over a Unix socket in the sandbox's state directory.
 * The worker sends `{ seq, ...request }`, the keeper answers each with
 * `{ seq, result }` or `{ seq, error: { code, message } }`, in any order.
 *
 * Not an entry module: nothing here is callable remotely.
 */
import type { LaunchSpec } from './process.js';

export type KeeperRequest =
  | { op: 'spawn'; command: string; spec: LaunchSpec; timeoutMs?: number; bufferBytes: number }
  | { op: 'output'; id: string; since: number; maxBytes: number; waitMs: number }
  | { op: 'kill'; id: string; signal?: string }
  | { op: 'list' };

export interface KeeperReply {
  seq: number;
  result?: unknown;
  error?: { code: string; message: string };
}

/** The socket's file name in the state directory. */
export const SOCKET_NAME = 'keeper.sock';
/** The keeper's own log (its stdout and stderr) in the state directory. */
export const LOG_NAME = 'keeper.log';
/** A line longer than this is a broken peer, not a message (an output read is at most 16 MiB of text). */
const MAX_LINE = 256 * 1024 * 1024;

/** Splits a byte stream into lines and parses each as JSON. */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly onMessage: (message: unknown) => void) {}

  push(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) break;
      this.parts.push(chunk.subarray(from, nl));
      const line = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.size = 0;
      from = nl + 1;
      if (line) this.onMessage(JSON.parse(line));
    }
    if (from < chunk.length) {
      this.size += chunk.length - from;
      if (this.size > MAX_LINE) throw new Error(`a message longer than ${MAX_LINE} bytes`);
      this.parts.push(chunk.subarray(from));
    }
  }
}

export function encodeLine(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}
