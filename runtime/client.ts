/**
 * RuntimeClient: the host side of the protocol. One WebSocket, many calls in
 * flight, each matched by its call_id. Local failures (cancel, timeout, a lost
 * connection) reject at once with the same RemoteError codes the server uses.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { decode, encode } from './codec.js';
import { corkForTick } from './cork.js';
import { errorData, fromWire, RemoteError } from './errors.js';
import * as P from './protocol.js';

export interface CallOptions {
  /** Deadline for the whole call; the server cancels the function too. Not finite or ≤ 0: no deadline. */
  timeoutMs?: number;
  /** Aborting it cancels the call (CANCELLED) and the function's `currentSignal()`. */
  signal?: AbortSignal;
  /** Stream / bidi: how many items may be in flight towards this client (default 256). */
  credit?: number;
}

export interface ConnectOptions {
  token?: string;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Options applied to every call unless the call sets its own. */
  defaults?: Pick<CallOptions, 'timeoutMs'>;
}

export interface LogEvent {
  /** 0 when the output was not written during a call. */
  callId: number;
  target?: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** What generated stubs need from a client (structural; RuntimeClient satisfies it). */
export interface RemoteClient {
  call<T>(target: string, args: unknown[], options?: CallOptions): Promise<T>;
  stream<T>(target: string, args: unknown[], options?: CallOptions): RemoteStream<T>;
  bidi<I, O>(target: string, args: unknown[], options?: CallOptions): BidiCall<I, O>;
}

export interface RemoteStream<T> extends AsyncIterable<T> {
  /** Stops the remote generator (its `finally` runs); iteration ends. */
  cancel(): void;
}

export interface BidiCall<I, O> extends RemoteStream<O> {
  /**
   * Queues an item for the function's inbox; resolves once it is handed to the
   * socket within the server's credit. Rejects after `close()`. Once the call
   * has ended (END, ERROR, cancel) it resolves at once and the item is dropped:
   * a producer need not race the end of the call, whose outcome iteration reports.
   */
  send(item: I): Promise<void>;
  /** Ends the inbox: the function's `for await (… of inbox)` finishes. */
  close(): void;
}

interface Pending {
  target: string;
  onMessage(type: number, msg: unknown[]): void;
  onError(err: RemoteError): void;
}

type ClientEvents = { log: [LogEvent]; goodbye: [string]; close: [] };

/** CALL's timeoutMs is an unsigned 32-bit integer. */
const MAX_WIRE_TIMEOUT_MS = 0xffff_ffff;

/** Whole milliseconds for the wire, 0 meaning no deadline (also for NaN, Infinity and ≤ 0). */
function deadlineMs(timeoutMs: number | undefined): number {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) return 0;
  return Math.min(Math.ceil(timeoutMs), MAX_WIRE_TIMEOUT_MS);
}

export class RuntimeClient extends EventEmitter<ClientEvents> implements RemoteClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedError: RemoteError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(private readonly ws: WebSocket, private readonly defaults: Pick<CallOptions, 'timeoutMs'>) {
    super();
    ws.on('message', (data: Buffer) => this.onFrame(data));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    ws.on('error', () => undefined); // 'close' follows
  }

  /** Connects to `ws://host:port` (or a Sandbox: `{ runtimeUrl, token }`). */
  static async connect(target: string | { runtimeUrl: string; token: string }, options: ConnectOptions = {}): Promise<RuntimeClient> {
    const url = typeof target === 'string' ? target : target.runtimeUrl;
    const token = options.token ?? (typeof target === 'string' ? process.env.AGENTIX_TOKEN : target.token);
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      handshakeTimeout: options.connectTimeoutMs ?? 10_000,
      maxPayload: 0,
    });
    ws.binaryType = 'nodebuffer';
    await new Promise<void>((resolve, reject) => {
      const fail = (err: RemoteError) => {
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        ws.terminate();
        reject(err);
      };
      ws.once('open', () => {
        ws.removeAllListeners();
        resolve();
      });
      ws.once('unexpected-response', (_req, res) => {
        const code = res.statusCode === 401 ? 'UNAUTHENTICATED' : 'UNAVAILABLE';
        res.resume();
        fail(new RemoteError(errorData(code, res.statusCode === 401 ? `the runtime at ${url} refused the token` : `the runtime at ${url} answered HTTP ${res.statusCode}`)));
      });
      ws.once('error', (err) => fail(new RemoteError(errorData('UNAVAILABLE', `cannot connect to ${url}: ${err.message}`))));
    });
    return new RuntimeClient(ws, options.defaults ?? {});
  }

  /** Calls a unary function. */
  call<T>(target: string, args: unknown[], options: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.allocateId();
      const stop = this.guard(id, target, options, reject);
      if (!stop) return;
      this.pending.set(id, {
        target,
        onMessage: (type, msg) => {
          if (type === P.RESULT) {
            this.pending.delete(id);
            stop();
            resolve(msg[2] as T);
          } else if (type === P.ERROR) {
            this.pending.delete(id);
            stop();
            reject(new RemoteError(fromWire(msg[2])));
          } else if (type === P.ITEM || type === P.END || type === P.INBOX_CREDIT) {
            // The target is not unary. END is final; otherwise it still runs remotely and must be stopped.
            const err = errorData('PROTOCOL', `${target} is a stream/bidi function; use client.stream()/bidi()`);
            this.settleLocally(id, err, type !== P.END);
          }
        },
        onError: (err) => {
          stop();
          reject(err);
        },
      });
      this.sendCall(id, target, args, options);
    });
  }

  /** Calls a stream function; iterate the result with `for await`. */
  stream<T>(target: string, args: unknown[], options: CallOptions = {}): RemoteStream<T> {
    return new StreamCall<T, never>(this, target, args, options, false);
  }

  /** Calls a bidi function: `send()` feeds its inbox, iteration reads what it yields. */
  bidi<I, O>(target: string, args: unknown[], options: CallOptions = {}): BidiCall<I, O> {
    return new StreamCall<O, I>(this, target, args, options, true);
  }

  /** Closes the connection; calls still in flight fail with CANCELLED. Calling it again returns the same promise. */
  close(): Promise<void> {
    return (this.closing ??= this.closeSocket());
  }

  private async closeSocket(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.failAll(new RemoteError(errorData('CANCELLED', 'the client was closed')));
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await closed;
    clearTimeout(timer);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  // ---- internals shared with StreamCall -------------------------------------

  /** @internal */
  allocateId(): number {
    for (let tries = 0; tries < 1_000_000; tries++) {
      const id = this.nextId;
      this.nextId = id >= P.MAX_CALL_ID ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    }
    throw new Error('no free call id');
  }

  /**
   * Applies the connection state, signal and timeout of a call. Returns a
   * function that disarms them once the call settles, or undefined when the
   * call was rejected right away.
   * @internal
   */
  guard(id: number, target: string, options: CallOptions, reject: (err: RemoteError) => void): (() => void) | undefined {
    if (this.closedError) {
      reject(this.closedError);
      return undefined;
    }
    const { signal } = options;
    const timeoutMs = deadlineMs(options.timeoutMs ?? this.defaults.timeoutMs);
    if (signal?.aborted) {
      reject(new RemoteError(errorData('CANCELLED', `${target} was cancelled before it started`)));
      return undefined;
    }
    // Both settle through the call's onError, which disarms them.
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => this.settleLocally(id, errorData('CANCELLED', `${target} was cancelled by the caller`), true);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs > 0) {
      const localMs = Math.min(timeoutMs, P.MAX_TIMER_MS);
      timer = setTimeout(() => {
        // The server enforces the same deadline and cancels the function, unless ours had to be
        // shortened to fit a timer: then the server's is later, so stop the function now.
        this.settleLocally(id, errorData('DEADLINE_EXCEEDED', `${target} exceeded its deadline of ${timeoutMs} ms`), localMs < timeoutMs);
      }, localMs);
    }
    return () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  }

  /** @internal */
  register(id: number, p: Pending): void {
    this.pending.set(id, p);
  }

  /** @internal */
  unregister(id: number): boolean {
    return this.pending.delete(id);
  }

  /** @internal */
  sendCall(id: number, target: string, args: unknown[], options: CallOptions): void {
    const timeoutMs = deadlineMs(options.timeoutMs ?? this.defaults.timeoutMs);
    const wire: P.WireCallOptions | undefined = options.credit ? { credit: options.credit } : undefined;
    let bytes: Buffer;
    try {
      bytes = encode(wire ? [P.CALL, id, timeoutMs, target, args, wire] : [P.CALL, id, timeoutMs, target, args]);
    } catch (err) {
      // Nothing was sent, so there is nothing to cancel remotely.
      return this.settleLocally(id, errorData('INVALID_ARGUMENT', `arguments of ${target} cannot be encoded: ${(err as Error).message}`), false);
    }
    this.sendEncoded(bytes);
  }

  /** @internal */
  sendEncoded(bytes: Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    corkForTick(this.ws);
    this.ws.send(bytes, { binary: true });
  }

  /** @internal */
  sendRaw(message: unknown[]): void {
    this.sendEncoded(encode(message));
  }

  /**
   * @internal Ends a call on this side with `error` (no-op if it already ended).
   * `cancelRemote`: the call may still run on the server, so send CANCEL too.
   */
  settleLocally(id: number, error: P.ErrorData, cancelRemote: boolean): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (cancelRemote) this.sendRaw([P.CANCEL, id]);
    p.onError(new RemoteError(error));
  }

  private onFrame(data: Buffer): void {
    let msg: unknown[];
    try {
      msg = decode(data) as unknown[];
      if (!Array.isArray(msg)) throw new Error('not an array');
    } catch (err) {
      this.emit('log', { callId: 0, stream: 'stderr', text: `agentix client: dropped an undecodable frame (${(err as Error).message})\n` });
      return;
    }
    const type = msg[0] as number;
    const id = msg[1] as number;
    if (type === P.LOG) {
      if (this.listenerCount('log') > 0) this.emit('log', { callId: id, target: this.pending.get(id)?.target, stream: msg[2] as 'stdout' | 'stderr', text: String(msg[3]) });
      return;
    }
    if (type === P.GOODBYE) {
      this.emit('goodbye', String(msg[2] ?? ''));
      return;
    }
    if (id === 0 && type === P.ERROR) {
      // About the connection itself, not one call: surface it, no call to fail.
      const e = fromWire(msg[2]);
      this.emit('log', { callId: 0, stream: 'stderr', text: `agentix: ${e.code}: ${e.message}\n` });
      return;
    }
    this.pending.get(id)?.onMessage(type, msg);
  }

  private onClose(code: number, reason: string): void {
    const err = new RemoteError(errorData('UNAVAILABLE', `the connection to the runtime closed (${code}${reason ? `: ${reason}` : ''})`));
    this.failAll(err);
    this.emit('close');
  }

  private failAll(err: RemoteError): void {
    this.closedError ??= err;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.onError(err);
  }
}

/** One stream or bidi call: a bounded queue of received items plus credit bookkeeping. */
class StreamCall<T, I> implements BidiCall<I, T> {
  private readonly id: number;
  private readonly items: T[] = [];
  private ended = false;
  private error: RemoteError | undefined;
  /** Readers waiting for an item, oldest first (next() may be called again before the last one settled). */
  private readonly waiters: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private consumed = 0;
  private readonly window: number;
  private stop: (() => void) | undefined;
  private iterated = false;
  // Inbox side (bidi)
  private inboxCredit = 0;
  private readonly outbox: { item: I; done: () => void }[] = [];
  private inboxClosed = false;
  private inboxEndSent = false;

  constructor(private readonly client: RuntimeClient, private readonly target: string, args: unknown[], options: CallOptions, private readonly isBidi: boolean) {
    this.window = options.credit && options.credit > 0 ? options.credit : P.DEFAULT_STREAM_CREDIT;
    this.id = client.allocateId();
    this.stop = client.guard(this.id, target, options, (err) => this.fail(err));
    if (!this.stop) return;
    client.register(this.id, { target, onMessage: (type, msg) => this.onMessage(type, msg), onError: (err) => this.fail(err) });
    client.sendCall(this.id, target, args, { ...options, credit: this.window });
  }

  private onMessage(type: number, msg: unknown[]): void {
    switch (type) {
      case P.ITEM: {
        const waiter = this.waiters.shift();
        if (waiter) {
          this.took();
          waiter.resolve({ value: msg[2] as T, done: false });
        } else this.items.push(msg[2] as T);
        break;
      }
      case P.RESULT:
        // The target is unary; RESULT is final, nothing to cancel.
        this.client.settleLocally(this.id, errorData('PROTOCOL', `${this.target} is a unary function; use client.call()`), false);
        break;
      case P.END:
        this.client.unregister(this.id);
        this.finish();
        break;
      case P.ERROR:
        this.client.unregister(this.id);
        this.fail(new RemoteError(fromWire(msg[2])));
        break;
      case P.INBOX_CREDIT:
        if (!this.isBidi) {
          // A bidi target would wait for an inbox that a stream call never feeds.
          this.client.settleLocally(this.id, errorData('PROTOCOL', `${this.target} is a bidi function; use client.bidi()`), true);
          break;
        }
        this.inboxCredit += Number(msg[2]) || 0;
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
    this.stop?.();
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

  /** Grants the server more credit once half the window has been consumed. */
  private took(): void {
    if (++this.consumed >= this.window / 2 && !this.ended) {
      this.client.sendRaw([P.CREDIT, this.id, this.consumed]);
      this.consumed = 0;
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      this.took();
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
    if (this.client.unregister(this.id)) this.client.sendRaw([P.CANCEL, this.id]);
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
    if (this.ended) return;
    while (this.outbox.length > 0 && this.inboxCredit > 0) {
      const { item, done } = this.outbox.shift()!;
      this.inboxCredit--;
      let bytes: Buffer;
      try {
        bytes = encode([P.INBOX_ITEM, this.id, item]);
      } catch (err) {
        done();
        // The function is still running, waiting on its inbox: stop it too.
        this.client.settleLocally(this.id, errorData('INVALID_ARGUMENT', `inbox item for ${this.target} cannot be encoded: ${(err as Error).message}`), true);
        return;
      }
      this.client.sendEncoded(bytes);
      done();
    }
    if (this.inboxClosed && this.outbox.length === 0 && !this.inboxEndSent) {
      this.inboxEndSent = true;
      this.client.sendRaw([P.INBOX_END, this.id]);
    }
  }

  private releaseOutbox(): void {
    for (const { done } of this.outbox.splice(0)) done();
  }
}
