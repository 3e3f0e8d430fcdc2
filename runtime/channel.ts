/**
 * `Channel<T>`: the inbox of a bidi function, as user code sees it. The
 * compiler recognises a bidi function by a parameter of this type, declared in
 * this file; a type that is merely named Channel elsewhere does not count.
 * (The worker's implementation is runtime/worker/inbox.ts.)
 */
export interface Channel<T> extends AsyncIterable<T> {
  /** Next item, or `undefined` with `done: true` once the caller closed the inbox. */
  next(): Promise<IteratorResult<T, undefined>>;
}
