/**
 * The worker's side of a bidi inbox (what user code iterates as its
 * `Channel<T>`): a bounded queue fed by the connection. `onTake` fires each
 * time user code takes an item, so the engine can grant the caller credit for
 * one more (wire/credit.ts).
 */
import type { Channel } from '../channel.js';

export class InboxQueue<T> implements Channel<T> {
  private items: T[] = [];
  private waiter: ((r: IteratorResult<T, undefined>) => void) | undefined;
  private waiterReject: ((err: Error) => void) | undefined;
  private ended = false;
  private failure: Error | undefined;

  constructor(private readonly onTake: () => void) {}

  get size(): number {
    return this.items.length;
  }

  /** Items received but not yet taken by user code. */
  pending(): readonly T[] {
    return this.items;
  }

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.clearWaiter();
      this.onTake();
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.clearWaiter();
      w({ value: undefined, done: true });
    }
  }

  /** Wakes a waiting reader with an error (the call was cancelled). */
  fail(err: Error): void {
    this.failure = err;
    this.ended = true;
    this.items = [];
    if (this.waiterReject) {
      const r = this.waiterReject;
      this.clearWaiter();
      r(err);
    }
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      this.onTake();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new Error('Channel.next() called again before the previous call settled'));
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.waiterReject = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return { next: () => this.next() };
  }

  private clearWaiter() {
    this.waiter = undefined;
    this.waiterReject = undefined;
  }
}
