/**
 * The functions the bench calls through Agentix. Each does as little as
 * possible, so the figures measure the transport, not the function.
 */
import type { Channel } from 'agentix';

/** Unary: returns its argument. */
export function run(input: string): string {
  return input;
}

/** Stream: 0, 1, …, n-1. */
export async function* count(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/** Unary with a byte-array argument that comes back. */
export function echoBytes(b: Uint8Array): Uint8Array {
  return b;
}

/** Bidi: echoes every inbox item. */
export async function* chat(inbox: Channel<string>): AsyncGenerator<string> {
  for await (const m of inbox) yield m;
}
