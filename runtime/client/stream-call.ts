/**
 * One stream or bidi call on the client: a queue of received items bounded by
 * the credit this side granted, and for bidi a bounded outbox that feeds the
 * function's inbox within the server's inbox credit (wire/credit.ts).
 */
import { encode } from '../wire/codec.js';
import { Credit, GrantBack } from '../wire/credit.js';
import { frameworkError, fromWire, RemoteError } from '../wire/errors.js';
import { DEFAULT_STREAM_CREDIT } from '../wire/limits.js';
import * as P from '../wire/protocol.js';
import type { CallOptions, CallTable } from './call-table.js';

export interface RemoteStream<T> extends AsyncIterable<T> {
  /** Stops the remote generator (its `finally` runs); iteration ends. */
  cancel(): void;
}

export interface BidiCall<I, O> extends RemoteStream<O> {
  /**
   * Queues an item for the function's inbox; resolves once it is handed to the
   * socket within the server's credit, so `await`ing each send keeps pace with
   * the function. Rejects after `close()`, and when more than `OUTBOX_LIMIT`
   * items wait unsent. Once the call has ended (END, ERROR, cancel) it resolves
   * at once and the item is dropped: a producer need not race the end of the
   * call, whose outcome iteration reports.
   */
  send(item: I): Promise<void>;
  /** Ends the inbox: the function's `for await (… of inbox)` finishes. */
  close(): void;
}

/** Items a bidi call holds for sending beyond the server's credit before `send` refuses more. */
export const OUTBOX_LIMIT = 1024;

export class StreamCall<T, I> implements BidiCall<I, T> {
  private readonly id: number | undefined;
  private readonly items: T[] = [];
  private ended = false;
  private error: RemoteError | undefined;
  /** Readers waiting for an item, oldest first (next() may be called again before the last one settled). */
  private readonly waiters: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private readonly window: number;
  private readonly grant: GrantBack;
  /** Opened with credit 0: the first read grants the window. */
  private startPaused: boolean;
  private iterated = false;
  // Inbox side (bidi)
  private readonly inboxCredit = new Credit(0);
  private readonly outbox: { item: I; done: () => void }[] = [];
  private inboxClosed = false;
  private inboxEndSent = false;

  constructor(
    private readonly table: CallTable,
    private readonly target: string,
    args: unknown[],
    options: CallOptions,
    private readonly isBidi: boolean,
  ) {
    const credit = options.credit;
    this.startPaused = credit === 0;
    this.window = typeof credit === 'number' && Number.isInteger(credit) && credit > 0 ? credit : DEFAULT_STREAM_CREDIT;
    this.grant = new GrantBack(this.window, (n) => this.id !== undefined && this.table.isLive(this.id) && this.table.send([P.CREDIT, this.id, n]));
    this.id = table.start(args, options, { target, onMessage: (type, msg) => this.onMessage(type, msg), onError: (err) => this.fail(err) }, this.startPaused ? 0 : this.window);
  }

  private onMessage(type: number, msg: unknown[]): void {
    switch (type) {
      case P.ITEM: {
        const waiter = this.waiters.shift();
        if (waiter) {
          this.grant.took();
          waiter.resolve({ value: msg[2] as T, done: false });
        } else if (this.items.length >= this.window) {
          // More than we granted: a broken server. Stop it rather than buffer without bound.
          this.table.settle(this.id!, frameworkError('PROTOCOL', `${this.target}: the server sent more items than the ${this.window} of credit granted`), true);
        } else this.items.push(msg[2] as T);
        break;
      }
      case P.RESULT:
        // The target is unary; RESULT is final, nothing to cancel.
        this.fail(new RemoteError(frameworkError('PROTOCOL', `${this.target} is a unary function; use client.call()`)));
        break;
      case P.END:
        this.finish();
        break;
      case P.ERROR:
        this.fail(new RemoteError(fromWire(msg[2])));
        break;
      case P.INBOX_CREDIT:
        if (!this.isBidi) {
          // A bidi target would wait for an inbox that a stream call never feeds.
          this.table.settle(this.id!, frameworkError('PROTOCOL', `${this.target} is a bidi function; use client.bidi()`), true);
          break;
        }
        this.inboxCredit.grant(Number(msg[2]) || 0);
        this.flushOutbox();
        break;
    }
  }

  /**
   * The call is over. Readers only wait when no items are buffered, so the
   * first waiting reader gets the error if there was one, every other the end.
   */
  private finish(): void {
    this.ended = true;
    this.releaseOutbox();
    for (const waiter of this.waiters.splice(0)) {
      const err = this.error;
      this.error = undefined; // reported once; afterwards the iterator is simply done
      if (err) waiter.reject(err);
      else waiter.resolve({ value: undefined, done: true });
    }
  }

  private fail(err: RemoteError): void {
    if (this.ended) return;
    this.error = err;
    this.finish();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.startPaused && this.id !== undefined) {
      this.startPaused = false;
      if (this.table.isLive(this.id)) this.table.send([P.CREDIT, this.id, this.window]);
    }
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      this.grant.took();
      return Promise.resolve({ value, done: false });
    }
    if (this.error) {
      const err = this.error;
      // Report the error once; afterwards the iterator is simply done.
      this.error = undefined;
      return Promise.reject(err);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  cancel(): void {
    if (this.ended) return;
    if (this.id !== undefined) this.table.retire(this.id, true);
    this.items.length = 0;
    this.finish();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error(`the result of ${this.target} can be iterated only once`);
    this.iterated = true;
    return {
      next: () => this.next(),
      // `break` out of for-await: stop the remote generator.
      return: async () => {
        this.cancel();
        return { value: undefined, done: true };
      },
    };
  }

  send(item: I): Promise<void> {
    if (!this.isBidi) return Promise.reject(new Error(`${this.target} is not a bidi call`));
    if (this.inboxClosed) return Promise.reject(new Error(`send() after close() on ${this.target}`));
    if (this.ended) return Promise.resolve();
    if (this.outbox.length >= OUTBOX_LIMIT) {
      return Promise.reject(new Error(`${this.target}: ${OUTBOX_LIMIT} inbox items already wait for credit; await send() to keep pace with the function`));
    }
    return new Promise<void>((done) => {
      this.outbox.push({ item, done });
      this.flushOutbox();
    });
  }

  close(): void {
    this.inboxClosed = true;
    this.flushOutbox();
  }

  private flushOutbox(): void {
    if (this.ended || this.id === undefined) return;
    while (this.outbox.length > 0 && this.inboxCredit.take()) {
      const { item, done } = this.outbox.shift()!;
      let bytes: Buffer;
      try {
        bytes = encode([P.INBOX_ITEM, this.id, item]);
      } catch (err) {
        done();
        // The function is still running, waiting on its inbox: stop it too.
        this.table.settle(this.id, frameworkError('INVALID_ARGUMENT', `inbox item for ${this.target} cannot be encoded: ${(err as Error).message}`), true);
        return;
      }
      this.table.sendBytes(bytes);
      done();
    }
    if (this.inboxClosed && this.outbox.length === 0 && !this.inboxEndSent) {
      this.inboxEndSent = true;
      this.table.send([P.INBOX_END, this.id]);
    }
  }

  private releaseOutbox(): void {
    for (const { done } of this.outbox.splice(0)) done();
  }
}
