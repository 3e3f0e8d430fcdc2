/**
 * RuntimeClient: the host side of the protocol. One connection, many calls in
 * flight, each matched by its call_id (call-table.ts). Local failures (cancel,
 * timeout, a lost connection) reject at once with the same RemoteError codes
 * the server uses.
 */
import { EventEmitter } from 'node:events';
import { decode } from '../wire/codec.js';
import { frameworkError, fromWire, RemoteError } from '../wire/errors.js';
import { decodedBudget, DEFAULT_MAX_PAYLOAD, MAX_DEPTH } from '../wire/limits.js';
import { decodedCost } from '../wire/msgpack-peek.js';
import * as P from '../wire/protocol.js';
import { CallTable, type CallOptions } from './call-table.js';
import { StreamCall, type BidiCall, type RemoteStream } from './stream-call.js';
import { connectWebSocket, type ClientTransport } from './transport.js';

export type { CallOptions } from './call-table.js';
export type { BidiCall, RemoteStream } from './stream-call.js';

export interface ConnectOptions {
  token?: string;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Options applied to every call unless the call sets its own. */
  defaults?: Pick<CallOptions, 'timeoutMs'>;
  /** Largest message accepted from the runtime (default: twice the runtime's default limit). */
  maxPayload?: number;
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

type ClientEvents = { log: [LogEvent]; goodbye: [string]; close: [] };

/** Bound on what decoding one message from the runtime may allocate (a hostile sandbox must not take the host down). */
const DECODE_BUDGET = decodedBudget(DEFAULT_MAX_PAYLOAD);

export class RuntimeClient extends EventEmitter<ClientEvents> implements RemoteClient {
  #table: CallTable;
  #transport: ClientTransport;
  #closing: Promise<void> | undefined;

  /** Use `RuntimeClient.connect`. */
  private constructor(transport: ClientTransport, defaults: Pick<CallOptions, 'timeoutMs'>) {
    super();
    this.#transport = transport;
    this.#table = new CallTable(transport, defaults);
    transport.onMessage = (bytes) => this.#onFrame(bytes);
    transport.onClose = (code, reason) => {
      this.#table.closeAll(new RemoteError(frameworkError('UNAVAILABLE', `the connection to the runtime closed (${code}${reason ? `: ${reason}` : ''})`)));
      this.emit('close');
    };
  }

  /**
   * Connects to `ws://host:port` or `ws+unix:///path/to.sock` (or a Sandbox:
   * `{ runtimeUrl, token }`). The token defaults to the sandbox's, else AGENTIX_TOKEN.
   */
  static async connect(target: string | { runtimeUrl: string; token: string }, options: ConnectOptions = {}): Promise<RuntimeClient> {
    const url = typeof target === 'string' ? target : target.runtimeUrl;
    const token = options.token ?? (typeof target === 'string' ? process.env.AGENTIX_TOKEN : target.token);
    const transport = await connectWebSocket(url, { token, connectTimeoutMs: options.connectTimeoutMs ?? 10_000, maxPayload: options.maxPayload });
    return new RuntimeClient(transport, options.defaults ?? {});
  }

  /** Calls a unary function. */
  call<T>(target: string, args: unknown[], options: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.#table.start(args, options, {
        target,
        onMessage: (type, msg) => {
          if (type === P.RESULT) resolve(msg[2] as T);
          else if (type === P.ERROR) reject(new RemoteError(fromWire(msg[2])));
          else if (type === P.END) reject(new RemoteError(frameworkError('PROTOCOL', `${target} is a stream/bidi function; use client.stream()/bidi()`)));
          else if (type === P.ITEM || type === P.INBOX_CREDIT) {
            // The target is not unary and still runs remotely: stop it.
            this.#table.settle(id!, frameworkError('PROTOCOL', `${target} is a stream/bidi function; use client.stream()/bidi()`), true);
          }
        },
        onError: reject,
      });
    });
  }

  /** Calls a stream function; iterate the result with `for await`. */
  stream<T>(target: string, args: unknown[], options: CallOptions = {}): RemoteStream<T> {
    return new StreamCall<T, never>(this.#table, target, args, options, false);
  }

  /** Calls a bidi function: `send()` feeds its inbox, iteration reads what it yields. */
  bidi<I, O>(target: string, args: unknown[], options: CallOptions = {}): BidiCall<I, O> {
    return new StreamCall<O, I>(this.#table, target, args, options, true);
  }

  /** Closes the connection; calls still in flight fail with CANCELLED. Calling it again returns the same promise. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#table.closeAll(new RemoteError(frameworkError('CANCELLED', 'the client was closed')));
      await this.#transport.close();
    })());
  }

  /** Calls whose outcome is still awaited. */
  get inFlight(): number {
    return this.#table.live;
  }

  #onFrame(data: Buffer): void {
    let msg: unknown[];
    try {
      if (data.length * 64 > DECODE_BUDGET) {
        const cost = decodedCost(data, 0, DECODE_BUDGET, MAX_DEPTH);
        if (!cost.ok) throw new Error(`it would decode to more than ${DECODE_BUDGET} bytes or is malformed (${cost.reason})`);
      }
      msg = decode(data) as unknown[];
      if (!Array.isArray(msg)) throw new Error('not an array');
    } catch (err) {
      this.emit('log', { callId: 0, stream: 'stderr', text: `agentix client: dropped an undecodable frame (${(err as Error).message})\n` });
      return;
    }
    const type = msg[0] as number;
    const id = typeof msg[1] === 'bigint' ? Number(msg[1]) : (msg[1] as number);
    if (type === P.LOG) {
      if (this.listenerCount('log') > 0) this.emit('log', { callId: id, target: this.#table.targetOf(id), stream: msg[2] as 'stdout' | 'stderr', text: String(msg[3]) });
      return;
    }
    if (type === P.GOODBYE) return void this.emit('goodbye', String(msg[2] ?? ''));
    if (id === 0 && type === P.ERROR) {
      // About the connection itself, not one call: surface it, no call to fail.
      const e = fromWire(msg[2]);
      this.emit('log', { callId: 0, stream: 'stderr', text: `agentix: ${e.code}: ${e.message}\n` });
      return;
    }
    this.#table.deliver(type, id, msg);
  }
}

/**
 * A client over any transport (tests plug it into a call engine directly).
 * Not exported from the package.
 */
export function clientOver(transport: ClientTransport, defaults: Pick<CallOptions, 'timeoutMs'> = {}): RuntimeClient {
  return new (RuntimeClient as unknown as new (t: ClientTransport, d: Pick<CallOptions, 'timeoutMs'>) => RuntimeClient)(transport, defaults);
}
