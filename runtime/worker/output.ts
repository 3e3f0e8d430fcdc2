/**
 * User code's stdout and stderr in the worker. Inside a call, a write becomes
 * a LOG message for that call's caller (CallContext.log); outside any call
 * (module top level, a timer of a call that has ended, a subprocess sharing
 * the descriptors) it goes to the real file descriptor, which the server reads
 * and sends to every client with call_id 0.
 */
import { callStorage } from '../context.js';

export type Stream = 'stdout' | 'stderr';
type Write = (chunk: unknown, ...rest: unknown[]) => boolean;

/** Installs the routing; returns the original writers (for output that must bypass it). */
export function routeOutput(): Record<Stream, (text: string) => void> {
  const originals = {} as Record<Stream, (text: string) => void>;
  for (const stream of ['stdout', 'stderr'] as const) {
    const target = process[stream];
    const original = target.write.bind(target) as Write;
    originals[stream] = (text) => void original(text);
    target.write = ((chunk: unknown, ...rest: unknown[]) => {
      const ctx = callStorage().getStore();
      if (!ctx) return original(chunk, ...rest);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      ctx.log(stream, text);
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (cb) queueMicrotask(cb);
      return true;
    }) as typeof target.write;
  }
  return originals;
}
