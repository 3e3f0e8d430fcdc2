/**
 * The client's calls in flight, by call_id, and the rules of a call's life on
 * this side (docs/protocol.md, "Life of a call"):
 *   - an id is chosen here and is free again only once its final message
 *     (RESULT, END or ERROR) has been *received*. A call that ends early on
 *     this side (cancelled, its deadline passed) tells its caller at once but
 *     keeps its id reserved until the server's final arrives, so a late final
 *     can never be mistaken for that of a new call with the same id;
 *   - each call's outcome is reported once.
 * It also arms what ends a call locally: the caller's AbortSignal and the
 * deadline (wire/deadline.ts, computed once per call).
 */
import { encode } from '../wire/codec.js';
import { armDeadline, deadlineAt, toWireTimeout } from '../wire/deadline.js';
import { frameworkError, RemoteError } from '../wire/errors.js';
import { MAX_CALL_ID } from '../wire/limits.js';
import * as P from '../wire/protocol.js';
import type { ClientTransport } from './transport.js';

export interface CallOptions {
  /** Deadline for the whole call, in milliseconds; the server cancels the function too. Not finite or ≤ 0: no deadline. */
  timeoutMs?: number;
  /** Aborting it cancels the call (CANCELLED) and the function's `currentSignal()`. */
  signal?: AbortSignal;
  /** Stream / bidi: how many items may be in flight towards this client (default 256; 0: start paused until the first read). */
  credit?: number;
}

export interface CallHandlers {
  target: string;
  /** Any message for the call while it is live, finals included (the entry is gone by then). */
  onMessage(type: number, msg: unknown[]): void;
  /** The call ended on this side or with the connection (its final, if any, is ignored). */
  onError(err: RemoteError): void;
}

interface Entry {
  handlers: CallHandlers;
  /** False once the caller has been told the outcome; the entry then only waits for the final. */
  live: boolean;
  disarm?: () => void;
}

export class CallTable {
  private readonly entries = new Map<number, Entry>();
  private nextId = 1;
  private closedError: RemoteError | undefined;

  constructor(
    private readonly transport: ClientTransport,
    private readonly defaults: Pick<CallOptions, 'timeoutMs'>,
    /** The largest id (tests use a tiny id space to watch reuse). */
    private readonly maxId = MAX_CALL_ID,
  ) {}

  /** Calls whose outcome the caller still waits for. */
  get live(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.live) n++;
    return n;
  }

  targetOf(id: number): string | undefined {
    return this.entries.get(id)?.handlers.target;
  }

  /**
   * Starts a call: picks an id, arms its signal and deadline, sends the CALL.
   * Returns the id, or undefined after reporting why the call could not start
   * (closed client, aborted signal, arguments that cannot be encoded).
   */
  start(args: unknown[], options: CallOptions, handlers: CallHandlers, credit?: number): number | undefined {
    const { target } = handlers;
    if (this.closedError) return void handlers.onError(this.closedError);
    if (options.signal?.aborted) return void handlers.onError(new RemoteError(frameworkError('CANCELLED', `${target} was cancelled before it started`)));
    const timeoutMs = toWireTimeout(options.timeoutMs ?? this.defaults.timeoutMs);
    let bytes: Buffer;
    const id = this.allocate();
    if (id === undefined) return void handlers.onError(new RemoteError(frameworkError('UNAVAILABLE', `${target}: every call_id is in use (a call's id is free again only once its final message has arrived)`)));
    try {
      bytes = encode(credit === undefined ? [P.CALL, id, timeoutMs, target, args] : [P.CALL, id, timeoutMs, target, args, { credit }]);
    } catch (err) {
      return void handlers.onError(new RemoteError(frameworkError('INVALID_ARGUMENT', `arguments of ${target} cannot be encoded: ${(err as Error).message}`)));
    }
    const entry: Entry = { handlers, live: true };
    this.entries.set(id, entry);
    const signal = options.signal;
    const onAbort = () => this.settle(id, frameworkError('CANCELLED', `${target} was cancelled by the caller`), true);
    signal?.addEventListener('abort', onAbort, { once: true });
    // The server enforces the same deadline and sends its own final, which frees the id.
    const deadline = armDeadline(deadlineAt(timeoutMs), () => this.settle(id, frameworkError('DEADLINE_EXCEEDED', `${target} exceeded its deadline of ${timeoutMs} ms`), false));
    entry.disarm = () => {
      deadline.cancel();
      signal?.removeEventListener('abort', onAbort);
    };
    this.transport.send(bytes);
    return id;
  }

  /** Routes a message from the server. A final frees the id. */
  deliver(type: number, id: number, msg: unknown[]): void {
    const entry = this.entries.get(id);
    if (!entry) return; // ids we do not track: a late message that crossed our CANCEL
    if (P.isFinal(type)) {
      this.entries.delete(id);
      entry.disarm?.();
    }
    if (entry.live) entry.handlers.onMessage(type, msg);
  }

  /**
   * Ends a live call on this side with `error` (no-op once it ended). With
   * `cancelRemote` the server is told to stop it (CANCEL). Either way the id
   * stays reserved until the server's final arrives.
   */
  settle(id: number, error: P.ErrorData, cancelRemote: boolean): void {
    const entry = this.entries.get(id);
    if (!entry?.live) return;
    this.retire(id, cancelRemote);
    entry.handlers.onError(new RemoteError(error));
  }

  /** The caller has its outcome (or gave up on it): stop reporting; CANCEL it remotely if asked. */
  retire(id: number, cancelRemote: boolean): void {
    const entry = this.entries.get(id);
    if (!entry?.live) return;
    entry.live = false;
    entry.disarm?.();
    if (cancelRemote) this.send([P.CANCEL, id]);
  }

  isLive(id: number): boolean {
    return this.entries.get(id)?.live ?? false;
  }

  send(message: unknown[]): void {
    this.transport.send(encode(message));
  }

  sendBytes(bytes: Uint8Array): void {
    this.transport.send(bytes);
  }

  /** The connection is gone: every live call fails with `err`, every id is free, and no new call starts. */
  closeAll(err: RemoteError): void {
    this.closedError ??= err;
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) {
      e.disarm?.();
      if (e.live) e.handlers.onError(err);
    }
  }

  private allocate(): number | undefined {
    for (let tries = 0; tries <= this.entries.size; tries++) {
      const id = this.nextId;
      this.nextId = id >= this.maxId ? 1 : id + 1;
      if (!this.entries.has(id)) return id;
    }
    return undefined;
  }
}
