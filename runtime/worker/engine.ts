/**
 * The call engine: the worker's side of the protocol as plain code, with its
 * transport injected. It takes client messages (byte for byte as the client
 * sent them, tagged with a connection id) and answers through
 * `transport.send`. Tests drive it in-process, over a duplex pair with a real
 * RuntimeClient; the worker process (main.ts) plugs it into the pipe.
 *
 * The rules it owns:
 *   - the call table, keyed by connection and call_id;
 *   - exactly one final message (RESULT, END or ERROR) per CALL, sent by
 *     `end()` and nowhere else. Cancellation and deadlines send theirs at
 *     once, without waiting for user code to notice; what user code produces
 *     later is dropped;
 *   - stream credit and the bounded bidi inbox (wire/credit.ts);
 *   - per-connection pause: while a client is not reading, its calls wait to
 *     start, its streams stop pulling, its output is held and its log lines
 *     are dropped (counted, then reported with a marker line).
 */
import { callStorage, type CallContext } from '../context.js';
import { encode, decode } from '../wire/codec.js';
import { Credit, GrantBack, asCount } from '../wire/credit.js';
import { armDeadline, deadlineAt, fromWireTimeout, isPast, type Deadline } from '../wire/deadline.js';
import { encodeError } from '../wire/error-frame.js';
import { frameworkError, fromWire, toErrorData } from '../wire/errors.js';
import { DEFAULT_INBOX_CREDIT, DEFAULT_STREAM_CREDIT, decodedBudget, MAX_DEPTH, WORKER_LOG_PENDING_BYTES, WORKER_SLICE_MS } from '../wire/limits.js';
import { decodedCost } from '../wire/msgpack-peek.js';
import * as P from '../wire/protocol.js';
import { InboxQueue } from './inbox.js';
import { describeIssues, type Prepared, type TargetTable } from './targets.js';
import type { ValidateFn } from './validate.js';

export interface EngineTransport {
  /**
   * Hands one message for connection `conn` to the server. `gather`: it may
   * wait for the end of this turn of the event loop to leave with others (a
   * stream's items); otherwise it leaves as soon as the current code returns.
   */
  send(conn: number, message: Uint8Array, gather?: boolean): void;
  /** True while the link to the server is backed up: stream producers wait for `onceDrained`. */
  readonly congested: boolean;
  onceDrained(fn: () => void): void;
  /** Bytes handed over but not written out yet (bounds log output within one turn of the event loop). */
  readonly pendingBytes: number;
  /** Writes out what is pending now (before user code that may never return; see `invoke`). */
  flushNow?(): void;
}

export interface EngineOptions {
  transport: EngineTransport;
  targets: TargetTable;
  maxPayload: number;
  /** Called before a CALL numbered `seq` (by the server) that may hang starts: see wire/progress.ts. */
  onStart?: (seq: number) => void;
  /** Marks the runtime's own work on a large message of call `seq` (decoding, validating), which may take a while. */
  onFrameworkWork?: (seq: number, on: boolean) => void;
  /** Output written inside a call after it ended (a stray timer): goes where output outside any call goes. */
  strayOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
  logPendingLimit?: number;
}

interface Call {
  conn: number;
  id: number;
  target: string;
  shape: P.Shape;
  done: boolean;
  deadline: Deadline;
  /** Made on first use: most calls never look at their signal, and an AbortController costs more than the rest of a call's bookkeeping. */
  controller?: AbortController;
  abortReason?: Error;
  /** Stream / bidi: items the client can still take. */
  credit?: Credit;
  /** Set while a stream producer waits (credit, a paused client, a full pipe). */
  wake?: () => void;
  inbox?: InboxQueue<unknown>;
  checkInbox?: ValidateFn;
  generator?: AsyncIterator<unknown>;
  droppedLogBytes: number;
  /** Estimated heap bytes of its decoded arguments, and of each inbox item not yet taken (see `held`). */
  argsCost: number;
  inboxCosts: number[];
}

interface ConnState {
  paused: boolean;
  /** Output held while paused, in order. */
  held: Uint8Array[];
}

const key = (conn: number, id: number) => conn * 0x1_0000_0000 + id;

/** Messages at least this large may take the worker noticeably long to decode and validate: that work is marked (onFrameworkWork). */
const LARGE_MESSAGE = 64 * 1024;
/** Invocations of a target that must return quickly, in a row, before pending output stops being flushed ahead of it. */
const QUICK_RUNS = 3;
const QUICK_MS = 1;

export class CallEngine {
  private readonly calls = new Map<number, Call>();
  private readonly conns = new Map<number, ConnState>();
  /** Producers waiting for the transport to drain. */
  private readonly waitingForDrain = new Set<Call>();
  private drainArmed = false;
  private readonly transport: EngineTransport;
  private readonly targets: TargetTable;
  private readonly maxPayload: number;
  private readonly budget: number;
  private readonly logLimit: number;
  /** Estimated heap bytes of arguments and inbox items held by calls in flight, and its bound. */
  private held = 0;
  private readonly heldBudget: number;
  /** Per target: how many invocations in a row returned within QUICK_MS. */
  private readonly quickRuns = new Map<string, number>();

  constructor(private readonly opts: EngineOptions) {
    this.transport = opts.transport;
    this.targets = opts.targets;
    this.maxPayload = opts.maxPayload;
    this.budget = decodedBudget(opts.maxPayload);
    this.heldBudget = 2 * this.budget;
    this.logLimit = opts.logPendingLimit ?? WORKER_LOG_PENDING_BYTES;
  }

  /** Calls in flight (for tests and the worker's own diagnostics). */
  get size(): number {
    return this.calls.size;
  }

  /** One client message for connection `conn`; `seq` and `at` as the server's pipe frame gave them (0: unknown). */
  receive(conn: number, bytes: Uint8Array, seq = 0, at = 0): void {
    const head = P.peekHead(bytes);
    if (!head) return this.connError(conn, 'a message must be a msgpack array [type, call_id, ...]');
    if (head.type === P.CALL) return this.onCall(conn, head, bytes, seq, at);
    const call = this.calls.get(key(conn, head.id));
    if (!call) {
      if (!P.CLIENT_TYPES.has(head.type) && head.type !== P.W_FAIL) this.connError(conn, `unknown message type ${head.type}`);
      return; // cancel / credit / inbox for a finished call: normal races, nothing to do
    }
    switch (head.type) {
      case P.CANCEL:
        return this.abort(call, 'CANCELLED', `${call.target} was cancelled by the caller`);
      case P.CREDIT: {
        const msg = this.decodeSmall(conn, bytes);
        if (!msg) return;
        const n = asCount(msg[2]);
        if (n === undefined) return this.connError(conn, `CREDIT for call ${call.id} must carry a non-negative integer, got ${describe(msg[2])}`);
        call.credit?.grant(n);
        call.wake?.();
        return;
      }
      case P.INBOX_ITEM:
        return this.onInboxItem(call, bytes);
      case P.INBOX_END:
        call.inbox?.end();
        return;
      case P.W_FAIL: {
        const msg = this.decodeSmall(conn, bytes);
        if (msg) this.end(call, P.ERROR, fromWire(msg[2]), true);
        return;
      }
      default:
        this.connError(conn, `unknown message type ${head.type} (call_id ${head.id})`);
    }
  }

  /** The client of `conn` stopped reading: hold its output, stop its streams, defer nothing else here (the server stops reading it). */
  pause(conn: number): void {
    this.conn(conn).paused = true;
  }

  resume(conn: number): void {
    const state = this.conns.get(conn);
    if (!state?.paused) return;
    state.paused = false;
    const held = state.held;
    state.held = [];
    for (const bytes of held) this.transport.send(conn, bytes);
    for (const call of this.calls.values()) if (call.conn === conn) call.wake?.();
  }

  /** The connection is gone: every call of it is cancelled (their finals tell the server they are over). */
  closeConnection(conn: number): void {
    for (const call of [...this.calls.values()]) if (call.conn === conn) this.abort(call, 'CANCELLED', 'the connection closed');
    this.conns.delete(conn);
  }

  /** A message that will not be run: a CALL gets its final CANCELLED, anything else is dropped. */
  refuse(conn: number, bytes: Uint8Array, why: string): void {
    const head = P.peekHead(bytes);
    if (head?.type === P.CALL && P.isCallId(head.id) && !this.calls.has(key(conn, head.id))) this.reply(conn, head.id, frameworkError('CANCELLED', why));
  }

  // ---- starting a call -----------------------------------------------------

  private onCall(conn: number, head: P.Head, bytes: Uint8Array, seq: number, at: number): void {
    const id = head.id;
    if (!P.isCallId(id)) return this.connError(conn, `call_id must be an integer from 1 to 2^32-1, got ${id}`);
    if (this.calls.has(key(conn, id))) return this.connError(conn, `call_id ${id} is already in flight on this connection; the new CALL was ignored`);
    if (isPast(at)) return this.reply(conn, id, frameworkError('DEADLINE_EXCEEDED', 'the call exceeded its deadline before it started'));
    const large = bytes.length >= LARGE_MESSAGE;
    if (large) this.opts.onFrameworkWork?.(seq, true);
    try {
      this.startCall(conn, id, bytes, seq, at);
    } finally {
      if (large) this.opts.onFrameworkWork?.(seq, false);
    }
  }

  private startCall(conn: number, id: number, bytes: Uint8Array, seq: number, at: number): void {
    const measured = this.measure(bytes, 'CALL');
    if ('error' in measured) return this.reply(conn, id, measured.error);
    if (this.held + measured.cost > this.heldBudget) {
      return this.reply(conn, id, frameworkError('UNAVAILABLE', `the arguments of the calls in flight hold about ${this.held} bytes of the worker's memory; this call's would need about ${measured.cost} more, beyond the bound of ${this.heldBudget}: retry when fewer are running`));
    }
    let msg: unknown[];
    try {
      msg = decode(bytes) as unknown[];
    } catch (err) {
      return this.reply(conn, id, frameworkError('PROTOCOL', `undecodable CALL: ${(err as Error).message}`));
    }
    const [, , rawTimeout, target, args, options] = msg;
    const timeoutMs = fromWireTimeout(rawTimeout);
    const opts = options === null || options === undefined ? {} : options;
    if (typeof target !== 'string' || !Array.isArray(args) || timeoutMs === undefined || typeof opts !== 'object' || Array.isArray(opts) || msg.length > 6) {
      return this.reply(conn, id, frameworkError('PROTOCOL', 'CALL must be [1, call_id, timeoutMs: number >= 0, target: string, args: array, options?: map | nil]'));
    }
    const rawCredit = (opts as P.WireCallOptions).credit;
    const credit = rawCredit === undefined || rawCredit === null ? DEFAULT_STREAM_CREDIT : asCount(rawCredit);
    if (credit === undefined) return this.reply(conn, id, frameworkError('PROTOCOL', `CALL option credit must be a non-negative integer, got ${describe(rawCredit)}`));
    const info = this.targets.info(target);
    if (!info) return this.reply(conn, id, frameworkError('NOT_FOUND', `no function "${target}" in the manifest`, { target }));

    // A call of a function that has not shown it returns quickly is recorded as started before it runs (it
    // may hang mid-slice); the others are covered by the mark at the end of the slice (wire/progress.ts).
    if ((this.quickRuns.get(target) ?? 0) < QUICK_RUNS) this.opts.onStart?.(seq);
    const call: Call = { conn, id, target, shape: info.shape, done: false, deadline: NO_DEADLINE, droppedLogBytes: 0, argsCost: measured.cost, inboxCosts: [] };
    this.calls.set(key(conn, id), call);
    this.held += call.argsCost;
    const end = at > 0 ? at : deadlineAt(timeoutMs);
    if (end > 0) call.deadline = armDeadline(end, () => this.abort(call, 'DEADLINE_EXCEEDED', `${target} exceeded its deadline of ${timeoutMs || end - Date.now()} ms`));
    if (info.shape !== 'unary') call.credit = new Credit(credit);
    if (info.shape === 'bidi') {
      const grant = new GrantBack(DEFAULT_INBOX_CREDIT, (n) => !call.done && this.emit(conn, encode([P.INBOX_CREDIT, id, n])));
      call.inbox = new InboxQueue<unknown>(() => {
        this.held -= call.inboxCosts.shift() ?? 0;
        grant.took();
      });
      this.emit(conn, encode([P.INBOX_CREDIT, id, DEFAULT_INBOX_CREDIT]));
    }
    // Fast path: a target seen before is called synchronously, without a promise of our own in between.
    const ready = this.targets.ready(target);
    if (ready) return this.invoke(call, ready, args);
    this.targets.prepare(target).then(
      (prep) => !call.done && this.invoke(call, prep, args),
      (err) => this.end(call, P.ERROR, toErrorData(err)),
    );
  }

  /** Validates, then runs the user function inside the call's context (what `currentSignal()` reads). */
  private invoke(call: Call, prep: Prepared, args: unknown[]): void {
    if (prep.checkArgs) {
      const issues = checked(prep.checkArgs, args);
      if (issues.length > 0) return this.end(call, P.ERROR, frameworkError('INVALID_ARGUMENT', `invalid arguments for ${call.target}: ${describeIssues(issues)}`, { errors: issues }));
    }
    if (call.inbox && prep.checkInbox) {
      call.checkInbox = prep.checkInbox;
      // Items that arrived while the target was being prepared are checked now.
      for (const item of call.inbox.pending()) if (!this.inboxItemValid(call, item)) return;
    }
    const fullArgs = call.inbox ? withInbox(args, prep.info.inboxIndex ?? 0, call.inbox) : args;
    const ctx = this.contextOf(call);
    // User code may never return (a synchronous loop): then what earlier calls produced in this slice of
    // work would die with the worker. It leaves first, unless this target has shown it returns quickly.
    const quick = this.quickRuns.get(call.target) ?? 0;
    if (quick < QUICK_RUNS && this.transport.pendingBytes > 0) this.transport.flushNow?.();
    let value: unknown;
    const t0 = performance.now();
    try {
      value = callStorage().run(ctx, prep.fn, ...fullArgs);
    } catch (err) {
      return this.end(call, P.ERROR, toErrorData(err));
    } finally {
      this.quickRuns.set(call.target, performance.now() - t0 < QUICK_MS ? quick + 1 : 0);
    }
    const onError = (err: unknown) => this.end(call, P.ERROR, toErrorData(err));
    if (call.shape !== 'unary') {
      // A generator's body runs inside next(), so the pulling happens in the call's context too.
      callStorage().run(ctx, () => this.pump(call, prep, value)).catch(onError);
      return;
    }
    const onResult = (result: unknown) => {
      const issues = prep.checkResult && checked(prep.checkResult, result);
      if (issues && issues.length > 0) return this.end(call, P.ERROR, frameworkError('INTERNAL', `${call.target} returned an invalid result: ${describeIssues(issues)}`, { errors: issues }));
      this.end(call, P.RESULT, result);
    };
    let thenable: boolean;
    try {
      thenable = value instanceof Promise || (typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function');
    } catch (err) {
      return onError(err); // a Proxy whose `then` trap throws
    }
    // Any thenable, as `await` would take it; one whose then() throws is a user error like any other.
    if (thenable) Promise.resolve(value).then(onResult, onError);
    else onResult(value);
  }

  private contextOf(call: Call): CallContext {
    return new Context(this, call);
  }

  /** For Context: a call's output. */
  logFor(call: Call, stream: 'stdout' | 'stderr', text: string): void {
    this.log(call, stream, text);
  }

  // ---- streams ---------------------------------------------------------------

  /** Pulls a stream's generator only while the client has credit, reads, and the pipe has room. */
  private async pump(call: Call, prep: Prepared, value: unknown): Promise<void> {
    const iterable = value as AsyncIterable<unknown> | undefined;
    if (!iterable || typeof iterable[Symbol.asyncIterator] !== 'function') {
      throw new TypeError(`${call.target} is declared as a ${call.shape} function but did not return an async iterable`);
    }
    const it = iterable[Symbol.asyncIterator]();
    call.generator = it;
    let sliceStart = performance.now();
    for (;;) {
      // A generator that yields at once would keep this loop in microtasks for good: let the event loop turn.
      if (performance.now() - sliceStart > WORKER_SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
      await this.mayProduce(call);
      if (call.done) return;
      const r = await it.next();
      if (call.done) return;
      if (r.done) return this.end(call, P.END);
      const issues = prep.checkResult && checked(prep.checkResult, r.value);
      if (issues && issues.length > 0) {
        this.stopGenerator(call);
        return this.end(call, P.ERROR, frameworkError('INTERNAL', `${call.target} yielded an invalid item: ${describeIssues(issues)}`, { errors: issues }));
      }
      const bytes = this.encodeValue(call, P.ITEM, r.value);
      if (!bytes) return this.stopGenerator(call);
      call.credit!.take();
      // Items gather for the turn: one pipe write for many (the END or a result leaving meanwhile takes them along).
      this.emit(call.conn, bytes, true);
    }
  }

  private async mayProduce(call: Call): Promise<void> {
    for (;;) {
      if (call.done) return;
      const paused = this.conns.get(call.conn)?.paused;
      if (call.credit!.value > 0 && !paused && !this.transport.congested) return;
      if (this.transport.congested) this.waitForDrain(call);
      await new Promise<void>((resolve) => (call.wake = resolve));
      call.wake = undefined;
    }
  }

  private waitForDrain(call: Call): void {
    this.waitingForDrain.add(call);
    if (this.drainArmed) return;
    this.drainArmed = true;
    this.transport.onceDrained(() => {
      this.drainArmed = false;
      const waiting = [...this.waitingForDrain];
      this.waitingForDrain.clear();
      for (const c of waiting) c.wake?.();
    });
  }

  private stopGenerator(call: Call): void {
    // Runs the generator's finally blocks; its outcome no longer matters.
    const it = call.generator;
    call.generator = undefined;
    if (it?.return) Promise.resolve().then(() => it.return!(undefined)).catch(() => undefined);
  }

  // ---- the inbox ---------------------------------------------------------------

  private onInboxItem(call: Call, bytes: Uint8Array): void {
    if (!call.inbox) return this.end(call, P.ERROR, frameworkError('PROTOCOL', `${call.target} is not a bidi call; it has no inbox`), true);
    if (call.inbox.size >= DEFAULT_INBOX_CREDIT) return this.end(call, P.ERROR, frameworkError('PROTOCOL', `inbox overflow: the client sent more than its ${DEFAULT_INBOX_CREDIT} items of credit`), true);
    const measured = this.measure(bytes, 'INBOX_ITEM');
    if ('error' in measured) return this.end(call, P.ERROR, measured.error, true);
    if (this.held + measured.cost > this.heldBudget) {
      return this.end(call, P.ERROR, frameworkError('PAYLOAD_TOO_LARGE', `the calls in flight hold about ${this.held} bytes of the worker's memory in arguments and inbox items; this item would need about ${measured.cost} more, beyond the bound of ${this.heldBudget}`), true);
    }
    let msg: unknown[];
    try {
      msg = decode(bytes) as unknown[];
    } catch (err) {
      return this.end(call, P.ERROR, frameworkError('PROTOCOL', `undecodable INBOX_ITEM: ${(err as Error).message}`), true);
    }
    const item = msg[2];
    if (call.checkInbox && !this.inboxItemValid(call, item)) return;
    this.held += measured.cost;
    call.inboxCosts.push(measured.cost);
    call.inbox.push(item);
  }

  /** Checks one inbox item; a bad one ends the call with INVALID_ARGUMENT (the function sees its inbox fail). */
  private inboxItemValid(call: Call, item: unknown): boolean {
    const issues = checked(call.checkInbox!, item);
    if (issues.length === 0) return true;
    this.end(call, P.ERROR, frameworkError('INVALID_ARGUMENT', `invalid inbox item for ${call.target}: ${describeIssues(issues)}`, { errors: issues }), true);
    return false;
  }

  // ---- ending a call -------------------------------------------------------------

  /** Stops what user code is doing for `call` (signal, inbox, generator) and sends `code` as its final. */
  private abort(call: Call, code: 'CANCELLED' | 'DEADLINE_EXCEEDED', message: string): void {
    this.end(call, P.ERROR, frameworkError(code, message), true);
  }

  /**
   * The one place a final message leaves: RESULT (unary value), END, or
   * ERROR. Once per call; later attempts are no-ops. `stopUserCode`: the
   * function may still be running, so abort its signal, fail its inbox and
   * return its generator.
   */
  private end(call: Call, type: number, value?: unknown, stopUserCode = false): void {
    if (call.done) return;
    let bytes: Uint8Array | undefined;
    if (type === P.ERROR) bytes = encodeError(call.id, value as P.ErrorData, this.maxPayload);
    else if (type === P.END) bytes = encode([P.END, call.id]);
    else bytes = this.encodeValue(call, P.RESULT, value);
    if (!bytes) return; // encodeValue ended the call with the reason
    call.done = true;
    this.calls.delete(key(call.conn, call.id));
    this.held -= call.argsCost + call.inboxCosts.reduce((a, b) => a + b, 0);
    call.inboxCosts = [];
    this.waitingForDrain.delete(call);
    call.deadline.cancel();
    call.wake?.();
    if (stopUserCode || type === P.ERROR) {
      const code = (value as P.ErrorData).code;
      const reason = Object.assign(new Error((value as P.ErrorData).message), { name: code === 'DEADLINE_EXCEEDED' ? 'TimeoutError' : 'AbortError', code });
      call.abortReason = reason;
      call.controller?.abort(reason);
      call.inbox?.fail(reason);
      this.stopGenerator(call);
    }
    this.flushDroppedLogs(call);
    this.emit(call.conn, bytes);
  }

  /** `[type, id, value]` encoded, or undefined after ending the call with why it cannot be. */
  private encodeValue(call: Call, type: number, value: unknown): Uint8Array | undefined {
    let bytes: Buffer;
    try {
      bytes = encode([type, call.id, value]);
    } catch (err) {
      this.end(call, P.ERROR, frameworkError('INTERNAL', `${call.target} ${type === P.ITEM ? 'yielded' : 'returned'} a value that cannot be encoded: ${(err as Error)?.message ?? String(err)}`), true);
      return undefined;
    }
    if (bytes.length > this.maxPayload) {
      this.end(call, P.ERROR, frameworkError('PAYLOAD_TOO_LARGE', `${call.target} ${type === P.ITEM ? 'yielded an item' : 'returned a result'} of ${bytes.length} bytes, more than the limit of ${this.maxPayload} bytes`), true);
      return undefined;
    }
    return bytes;
  }

  /** A final ERROR for a CALL that never got a call record. */
  private reply(conn: number, id: number, error: P.ErrorData): void {
    this.emit(conn, encodeError(id, error, this.maxPayload));
  }

  // ---- output ----------------------------------------------------------------------

  private log(call: Call, stream: 'stdout' | 'stderr', text: string): void {
    if (call.done) return this.opts.strayOutput?.(stream, text);
    const paused = this.conns.get(call.conn)?.paused;
    if (paused || this.transport.pendingBytes > this.logLimit) {
      call.droppedLogBytes += Buffer.byteLength(text);
      return;
    }
    this.flushDroppedLogs(call);
    let bytes: Buffer;
    try {
      bytes = encode([P.LOG, call.id, stream, text]);
    } catch {
      return;
    }
    if (bytes.length <= this.maxPayload) this.emit(call.conn, bytes);
    else call.droppedLogBytes += bytes.length;
  }

  private flushDroppedLogs(call: Call): void {
    if (call.droppedLogBytes === 0) return;
    const n = call.droppedLogBytes;
    call.droppedLogBytes = 0;
    this.emit(call.conn, encode([P.LOG, call.id, 'stderr', `[agentix: ${n} bytes of output were dropped: the client was not reading them fast enough]\n`]));
  }

  private emit(conn: number, bytes: Uint8Array, gather = false): void {
    const state = this.conns.get(conn);
    if (state?.paused) state.held.push(bytes);
    else this.transport.send(conn, bytes, gather);
  }

  private connError(conn: number, message: string): void {
    this.emit(conn, encodeError(0, frameworkError('PROTOCOL', message), this.maxPayload));
  }

  private decodeSmall(conn: number, bytes: Uint8Array): unknown[] | undefined {
    try {
      const msg = decode(bytes);
      if (Array.isArray(msg)) return msg;
    } catch {
      // reported below
    }
    this.connError(conn, 'undecodable message');
    return undefined;
  }

  /**
   * Why a message must not be decoded, if it must not: what it would allocate,
   * and how deep it nests, is found by a walk that allocates nothing.
   */
  private measure(bytes: Uint8Array, what: string): { cost: number } | { error: P.ErrorData } {
    // A message cannot nest deeper than it has bytes, nor cost more than ~64 heap bytes per byte.
    if (bytes.length <= MAX_DEPTH) return { cost: bytes.length * 64 };
    const cost = decodedCost(bytes, 0, this.budget, MAX_DEPTH);
    return cost.ok ? { cost: cost.cost } : { error: costError(cost.reason, what, this.budget) };
  }

  private conn(id: number): ConnState {
    let s = this.conns.get(id);
    if (!s) this.conns.set(id, (s = { paused: false, held: [] }));
    return s;
  }
}

const NO_DEADLINE: Deadline = { cancel: () => undefined };

/** What `currentCall()` returns inside a call; its signal is made on first use. */
class Context implements CallContext {
  constructor(
    private readonly engine: CallEngine,
    private readonly call: Call,
  ) {}

  get target(): string {
    return this.call.target;
  }

  get signal(): AbortSignal {
    const call = this.call;
    if (!call.controller) {
      call.controller = new AbortController();
      if (call.abortReason) call.controller.abort(call.abortReason);
    }
    return call.controller.signal;
  }

  log(stream: 'stdout' | 'stderr', text: string): void {
    this.engine.logFor(this.call, stream, text);
  }
}

/** A validator's issues; a validator that throws (a value nested past the stack) yields one issue saying so. */
function checked(check: ValidateFn, value: unknown): ReturnType<ValidateFn> {
  try {
    return check(value);
  } catch (err) {
    return [{ path: '', message: `could not be validated (${(err as Error)?.message ?? String(err)})` }];
  }
}

function withInbox(args: unknown[], index: number, inbox: InboxQueue<unknown>): unknown[] {
  const full = args.slice(0, index);
  while (full.length < index) full.push(undefined);
  full.push(inbox, ...args.slice(index));
  return full;
}

function costError(reason: 'truncated' | 'too-deep' | 'too-costly' | 'invalid', what: string, budget: number): P.ErrorData {
  if (reason === 'too-costly') return frameworkError('PAYLOAD_TOO_LARGE', `${what} would decode to more than ${budget} bytes of memory`);
  if (reason === 'too-deep') return frameworkError('PROTOCOL', `${what} is nested more than ${MAX_DEPTH} levels deep`);
  return frameworkError('PROTOCOL', `${what} is not valid msgpack (${reason === 'truncated' ? 'it ends early' : 'it uses the reserved byte 0xc1'})`);
}

const describe = (v: unknown) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v));
