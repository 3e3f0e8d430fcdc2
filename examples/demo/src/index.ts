/** The demo project: one function of each call shape, run inside the sandbox. */
import type { Channel } from 'agentix';
import { currentSignal } from 'agentix';

/** Unary: one value in, one value out. */
export async function run(input: string): Promise<string> {
  return `hello ${input} from pid ${process.pid}`;
}

/** Stream: yields 0..n-1, pausing a little; stops early if the caller cancels. */
export async function* count(n: number, delayMs = 10): AsyncGenerator<number> {
  const signal = currentSignal();
  for (let i = 0; i < n && !signal.aborted; i++) {
    yield i;
    await new Promise((r) => setTimeout(r, delayMs));
  }
}

/** Bidi: answers every line the caller sends until the caller closes the inbox. */
export async function* chat(inbox: Channel<string>, prefix: string): AsyncGenerator<string> {
  let n = 0;
  for await (const line of inbox) yield `${prefix}${++n}: ${line.toUpperCase()}`;
}
