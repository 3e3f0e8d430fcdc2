/**
 * What user code running in the worker can ask about the call it is serving.
 *
 * The store lives on globalThis under a registry symbol: user code may carry
 * its own copy of the `agentix` package (bundled, or resolved from a different
 * node_modules), and every copy must see the same call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface CallContext {
  /** Target name, e.g. `run` or `bash.run`. */
  target: string;
  /** Aborted when the caller cancels, the deadline passes or the connection drops. */
  signal: AbortSignal;
  /** Writes a log line to the caller (what console.log inside the call does). */
  log(stream: 'stdout' | 'stderr', text: string): void;
}

const KEY = Symbol.for('agentix.callContext');
type Holder = { [KEY]?: AsyncLocalStorage<CallContext> };

export function callStorage(): AsyncLocalStorage<CallContext> {
  const g = globalThis as Holder;
  return (g[KEY] ??= new AsyncLocalStorage<CallContext>());
}

const neverAborted = new AbortController().signal;

/** The AbortSignal of the call being served; a signal that never fires outside a call. */
export function currentSignal(): AbortSignal {
  return callStorage().getStore()?.signal ?? neverAborted;
}

/** The context of the call being served, or undefined outside a call. */
export function currentCall(): CallContext | undefined {
  return callStorage().getStore();
}
