/**
 * The worker subprocess: imports user code, validates arguments, calls
 * functions and encodes results. It talks to the server over fd 3 only
 * (framing.ts); fd 1 and 2 stay the user's. One worker serves every
 * connection; the server restarts it when it dies.
 *
 * Invariant: every CALL the worker receives gets exactly one final message
 * (RESULT, ERROR or END). Cancellation and deadlines send their final ERROR at
 * once, without waiting for user code to notice; what user code returns later
 * is dropped. The server relies on this to tell a busy worker from a hung one.
 */
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InboxQueue } from './channel.js';
import { decode, encode } from './codec.js';
import { callStorage, type CallContext } from './context.js';
import { errorData, toErrorData } from './errors.js';
import { FrameReader, FrameWriter } from './framing.js';
import { readManifest, type Manifest, type TargetInfo } from './manifest.js';
import * as P from './protocol.js';
import type { ValidationIssue } from './validate.js';

type Fn = (...args: unknown[]) => unknown;

interface Call {
  conn: number;
  id: number;
  target: string;
  /** Made on first use: most calls never look at their signal, and an AbortController costs more than the rest of a call's bookkeeping. */
  controller?: AbortController;
  abortReason?: Error;
  done: boolean;
  /** Stream / bidi: items the client can still take, and who waits for more. */
  credit: number;
  creditWaiter?: () => void;
  inbox?: InboxQueue<unknown>;
  /** Bidi: the inbox item schema's check, set once the target is prepared. */
  checkInbox?: (value: unknown) => ValidationIssue[];
  inboxWindow: number;
  inboxTaken: number;
  generator?: AsyncGenerator<unknown, unknown, unknown>;
  timer?: NodeJS.Timeout;
}

interface Prepared {
  info: TargetInfo;
  fn: Fn;
  checkArgs?: (args: unknown) => ValidationIssue[];
  checkResult?: (value: unknown) => ValidationIssue[];
  checkInbox?: (value: unknown) => ValidationIssue[];
}

const runDir = process.argv[2];
if (!runDir) {
  process.stderr.write('usage: worker-main <runDir>\n');
  process.exit(2);
}
const maxPayload = Number(process.env.AGENTIX_MAX_PAYLOAD ?? P.DEFAULT_MAX_PAYLOAD);
const validateResults = process.env.AGENTIX_VALIDATE_RESULTS === '1';

// Stack traces of user code point at its TypeScript sources (the run dir carries inline source maps).
process.setSourceMapsEnabled(true);

const pipe = new Socket({ fd: 3, readable: true, writable: true });
const out = new FrameWriter(pipe);
const calls = new Map<string, Call>();
const key = (conn: number, id: number) => `${conn}:${id}`;

// User code may end the process with process.exit: what it logged just before still reaches the caller.
process.on('exit', () => out.flushSync(3));

// The server is our lifeline: when the pipe closes, nobody can hear us any more.
pipe.on('close', () => process.exit(0));
pipe.on('error', () => process.exit(0));

const manifest: Manifest = readManifest(join(runDir, 'manifest.json'));
const modules = new Map<string, Promise<Record<string, unknown>>>();
const prepared = new Map<string, Promise<Prepared>>();
/** Targets whose preparation finished: calls to them take the synchronous path. */
const ready = new Map<string, Prepared>();

function loadModule(id: string): Promise<Record<string, unknown>> {
  let m = modules.get(id);
  if (!m) {
    const file = join(runDir!, 'modules', `${id}.js`);
    m = import(pathToFileURL(file).href) as Promise<Record<string, unknown>>;
    modules.set(id, m);
  }
  return m;
}

/** Module import, export lookup and validator compilation, once per target. */
function prepare(name: string): Promise<Prepared> {
  let p = prepared.get(name);
  if (!p) {
    p = (async () => {
      const info = manifest.targets[name]!;
      let mod: Record<string, unknown>;
      try {
        mod = await loadModule(info.module);
      } catch (err) {
        throw Object.assign(new Error(`module "${info.module}" failed to load: ${(err as Error).message}`), { agentixCode: 'INTERNAL', cause: err });
      }
      const fn = mod[info.export];
      if (typeof fn !== 'function') {
        throw Object.assign(new Error(`module "${info.module}" has no function export "${info.export}" (the manifest is stale: run agentix gen)`), { agentixCode: 'NOT_FOUND' });
      }
      const defs = manifest.$defs;
      const wantsResult = validateResults && info.returns !== undefined;
      const wantsInbox = info.shape === 'bidi' && info.inbox !== undefined;
      // The validator library loads only when some target has a schema to check.
      const { compileValidator } = info.args !== undefined || wantsResult || wantsInbox ? await import('./validate.js') : { compileValidator: undefined };
      return {
        info,
        fn: fn as Fn,
        checkArgs: info.args !== undefined ? compileValidator!(info.args, defs) : undefined,
        checkResult: wantsResult ? compileValidator!(info.returns, defs) : undefined,
        checkInbox: wantsInbox ? compileValidator!(info.inbox, defs) : undefined,
      };
    })();
    prepared.set(name, p);
  }
  return p;
}

// ---- sending ------------------------------------------------------------

function send(conn: number, message: unknown[]): boolean {
  let bytes: Buffer;
  try {
    bytes = encode(message);
  } catch (err) {
    if (message[0] === P.LOG) return false;
    const call = calls.get(key(conn, message[1] as number));
    fail(conn, message[1] as number, errorData('INTERNAL', `${call?.target ?? 'result'} returned a value that cannot be encoded: ${(err as Error).message}`));
    return false;
  }
  if (bytes.length > maxPayload) {
    if (message[0] === P.LOG) return false;
    fail(conn, message[1] as number, errorData('PAYLOAD_TOO_LARGE', `message of ${bytes.length} bytes exceeds the limit of ${maxPayload} bytes`));
    return false;
  }
  out.write(conn, bytes);
  return true;
}

/**
 * An ERROR message that always goes out: user data that cannot be encoded is
 * dropped, and an error too large for the limit is cut down to its name and
 * the start of its message. A failure to report a failure must never take
 * the worker down.
 */
function encodeError(id: number, error: P.ErrorData): Buffer {
  let bytes: Buffer;
  try {
    bytes = encode([P.ERROR, id, error]);
  } catch (err) {
    const { data: _data, cause: _cause, ...bare } = error;
    bytes = encode([P.ERROR, id, { ...bare, message: `${error.message} (its details could not be encoded: ${(err as Error).message})` }]);
  }
  if (bytes.length <= maxPayload) return bytes;
  return encode([P.ERROR, id, { name: error.name, code: error.code, message: `${error.message.slice(0, 2000)} (error of ${bytes.length} bytes cut to fit the ${maxPayload}-byte limit)` }]);
}

function writeError(conn: number, id: number, error: P.ErrorData): void {
  out.write(conn, encodeError(id, error));
}

/** Ends a call with an error (once). */
function fail(conn: number, id: number, error: P.ErrorData): void {
  const call = calls.get(key(conn, id));
  if (call) finish(call);
  else if (id === 0) return;
  writeError(conn, id, error);
}

/** Ends a running call with an error, cancelling what user code is still doing for it. */
function endWithError(call: Call, error: P.ErrorData): void {
  if (call.done) return;
  cancel(call, 'CANCELLED', error.message, false);
  writeError(call.conn, call.id, error);
}

function finish(call: Call): void {
  if (call.done) return;
  call.done = true;
  calls.delete(key(call.conn, call.id));
  if (call.timer) clearTimeout(call.timer);
  call.creditWaiter?.();
}

function finalResult(call: Call, type: number, value?: unknown): void {
  if (call.done) return;
  const message = type === P.END ? [P.END, call.id] : [type, call.id, value];
  // send() reports encode / size failures itself (and finishes the call then).
  if (send(call.conn, message)) finish(call);
}

// ---- user output --------------------------------------------------------

/**
 * console.log inside a call becomes a LOG message for that call's caller.
 * Output outside any call (module top level, timers) goes to the real fd and
 * the server broadcasts it.
 */
function routeOutput(stream: 'stdout' | 'stderr'): void {
  const target = process[stream];
  const original = target.write.bind(target) as (...a: unknown[]) => boolean;
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
routeOutput('stdout');
routeOutput('stderr');

// ---- calls --------------------------------------------------------------

function cancel(call: Call, code: 'CANCELLED' | 'DEADLINE_EXCEEDED', message: string, notify: boolean): void {
  if (call.done) return;
  const err = Object.assign(new Error(message), { name: code === 'CANCELLED' ? 'AbortError' : 'TimeoutError', code });
  call.abortReason = err;
  call.controller?.abort(err);
  call.inbox?.fail(err);
  const gen = call.generator;
  if (notify) fail(call.conn, call.id, errorData(code, message));
  else finish(call);
  // Runs the generator's finally blocks; its outcome no longer matters.
  gen?.return(undefined).catch(() => undefined);
}

/** A count from the wire: any msgpack integer encoding, so possibly a bigint. */
function asCount(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}


function startCall(conn: number, id: number, msg: unknown[]): void {
  const [, , rawTimeout, target, args, options] = msg;
  const timeoutMs = asCount(rawTimeout);
  if (typeof target !== 'string' || !Array.isArray(args) || timeoutMs === undefined || (options !== undefined && (typeof options !== 'object' || options === null))) {
    return writeError(conn, id, errorData('PROTOCOL', 'CALL must be [1, call_id, timeoutMs, target: string, args: array, options?: map]'));
  }
  if (calls.has(key(conn, id))) return writeError(conn, 0, errorData('PROTOCOL', `call_id ${id} is already in flight on this connection`));
  const info = Object.hasOwn(manifest.targets, target) ? manifest.targets[target] : undefined;
  if (!info) return writeError(conn, id, errorData('NOT_FOUND', `no function "${target}" in the manifest`, { target }));
  const credit = asCount((options as P.WireCallOptions | undefined)?.credit);
  const call: Call = {
    conn, id, target,
    done: false,
    credit: credit !== undefined && credit > 0 ? credit : P.DEFAULT_STREAM_CREDIT,
    inboxWindow: P.DEFAULT_INBOX_CREDIT,
    inboxTaken: 0,
  };
  calls.set(key(conn, id), call);
  if (timeoutMs > 0 && timeoutMs <= P.MAX_TIMER_MS) {
    call.timer = setTimeout(() => cancel(call, 'DEADLINE_EXCEEDED', `${target} exceeded its deadline of ${timeoutMs} ms`, true), timeoutMs);
  }
  if (info.shape === 'bidi') {
    call.inbox = new InboxQueue<unknown>(() => {
      // Grant credit back in batches of half the window to keep messages few.
      if (++call.inboxTaken >= call.inboxWindow / 2 && !call.done) {
        send(conn, [P.INBOX_CREDIT, id, call.inboxTaken]);
        call.inboxTaken = 0;
      }
    });
    send(conn, [P.INBOX_CREDIT, id, call.inboxWindow]);
  }
  // Fast path: a target seen before is called synchronously, without a promise of our own in between.
  const prep = ready.get(target);
  if (prep) invoke(call, prep, args);
  else {
    prepare(target).then(
      (p) => {
        ready.set(target, p);
        if (!call.done) invoke(call, p, args);
      },
      (err) => {
        if (!call.done) fail(call.conn, call.id, { ...toErrorData(err), code: (err as { agentixCode?: P.ErrorCode }).agentixCode ?? 'INTERNAL' });
      },
    );
  }
}

function contextOf(call: Call): CallContext {
  return {
    target: call.target,
    get signal() {
      if (!call.controller) {
        call.controller = new AbortController();
        if (call.abortReason) call.controller.abort(call.abortReason);
      }
      return call.controller.signal;
    },
    log: (stream, text) => {
      if (!call.done) send(call.conn, [P.LOG, call.id, stream, text]);
    },
  };
}

const describe = (issues: ValidationIssue[]) => issues.slice(0, 20).map((i) => `${i.path || '/'}: ${i.message}`).join('; ');

/** Validates, then runs the user function inside the call's context (what `currentSignal()` reads). */
function invoke(call: Call, prep: Prepared, args: unknown[]): void {
  const { info } = prep;
  if (prep.checkArgs) {
    const issues = prep.checkArgs(args);
    if (issues.length > 0) {
      return fail(call.conn, call.id, errorData('INVALID_ARGUMENT', `invalid arguments for ${call.target}: ${describe(issues)}`, { errors: issues }));
    }
  }
  call.checkInbox = prep.checkInbox;
  // Items that arrived while the target was being prepared are checked now.
  if (call.checkInbox && !call.inbox!.pending().every((item) => inboxItemValid(call, item))) return;
  const fullArgs = info.shape === 'bidi' ? withInbox(args, info.inboxIndex ?? 0, call.inbox!) : args;
  const ctx = contextOf(call);
  let value: unknown;
  try {
    value = callStorage().run(ctx, prep.fn, ...fullArgs);
  } catch (err) {
    return fail(call.conn, call.id, toErrorData(err));
  }
  const onError = (err: unknown) => {
    if (!call.done) fail(call.conn, call.id, toErrorData(err));
  };
  if (info.shape !== 'unary') {
    // A generator's body runs inside next(), so the pulling happens in the call's context too.
    callStorage().run(ctx, () => pump(call, prep, value)).catch(onError);
    return;
  }
  const onResult = (result: unknown) => {
    if (call.done) return;
    const issues = prep.checkResult?.(result);
    if (issues && issues.length > 0) {
      return fail(call.conn, call.id, errorData('INTERNAL', `${call.target} returned an invalid result: ${describe(issues)}`, { errors: issues }));
    }
    finalResult(call, P.RESULT, result);
  };
  if (value instanceof Promise) value.then(onResult, onError);
  else if (typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function') {
    // Any thenable, as `await` would take it; one whose then() throws is a user error like any other.
    Promise.resolve(value).then(onResult, onError);
  } else onResult(value);
}

/** Checks one inbox item; a bad one ends the call with INVALID_ARGUMENT (the function sees its inbox fail). */
function inboxItemValid(call: Call, item: unknown): boolean {
  const issues = call.checkInbox!(item);
  if (issues.length === 0) return true;
  endWithError(call, errorData('INVALID_ARGUMENT', `invalid inbox item for ${call.target}: ${describe(issues)}`, { errors: issues }));
  return false;
}

function withInbox(args: unknown[], index: number, inbox: InboxQueue<unknown>): unknown[] {
  const full = args.slice(0, index);
  while (full.length < index) full.push(undefined);
  full.push(inbox, ...args.slice(index));
  return full;
}

/** Pulls a stream's generator only while the client has credit. */
async function pump(call: Call, prep: Prepared, value: unknown): Promise<void> {
  const iterable = value as AsyncIterable<unknown> | undefined;
  if (!iterable || typeof iterable[Symbol.asyncIterator] !== 'function') {
    throw new TypeError(`${call.target} is declared as a ${prep.info.shape} function but did not return an async iterable`);
  }
  const it = iterable[Symbol.asyncIterator]() as AsyncGenerator<unknown, unknown, unknown>;
  call.generator = it;
  for (;;) {
    if (call.credit <= 0) {
      await new Promise<void>((resolve) => (call.creditWaiter = resolve));
      call.creditWaiter = undefined;
    }
    if (call.done) return;
    const r = await it.next();
    if (call.done) return;
    if (r.done) return finalResult(call, P.END);
    const issues = prep.checkResult?.(r.value);
    if (issues && issues.length > 0) {
      fail(call.conn, call.id, errorData('INTERNAL', `${call.target} yielded an invalid item: ${issues.map((i) => `${i.path || '/'}: ${i.message}`).join('; ')}`));
      it.return(undefined).catch(() => undefined);
      return;
    }
    if (!send(call.conn, [P.ITEM, call.id, r.value])) {
      it.return(undefined).catch(() => undefined);
      return;
    }
    call.credit--;
    // Let the pipe drain before pulling more: the server must never hold more than a window per call.
    if (out.congested) await new Promise<void>((resolve) => pipe.once('drain', resolve));
  }
}

// ---- dispatch -----------------------------------------------------------

function onMessage(conn: number, bytes: Buffer): void {
  // The head was checked by the server; its id is a number even when the body's encoding would make it a bigint.
  const head = P.peekHead(bytes);
  if (!head) return writeError(conn, 0, errorData('PROTOCOL', 'a message must be an array [type, call_id, ...]'));
  const { type, id } = head;
  let msg: unknown[];
  try {
    msg = decode(bytes) as unknown[];
    if (!Array.isArray(msg)) throw new Error('not an array');
  } catch (err) {
    const error = errorData('PROTOCOL', `undecodable message: ${(err as Error).message}`);
    const call = calls.get(key(conn, id));
    if (type === P.CALL) return writeError(conn, call ? 0 : id, error);
    if (call) return endWithError(call, error);
    return writeError(conn, 0, error);
  }
  if (type === P.CALL) return startCall(conn, id, msg);
  if (type === P.W_CLOSED) {
    for (const call of [...calls.values()]) if (call.conn === conn) cancel(call, 'CANCELLED', 'the connection closed', true);
    return;
  }
  const call = calls.get(key(conn, id));
  if (!call) return; // late messages for a finished call are normal
  switch (type) {
    case P.CANCEL:
      cancel(call, 'CANCELLED', `${call.target} was cancelled by the caller`, true);
      break;
    case P.CREDIT: {
      const n = asCount(msg[2]);
      if (n !== undefined && n > 0) {
        call.credit += n;
        call.creditWaiter?.();
      }
      break;
    }
    case P.INBOX_ITEM:
      if (!call.inbox) return endWithError(call, errorData('PROTOCOL', `${call.target} is not a bidi call; it has no inbox`));
      if (call.inbox.size >= call.inboxWindow) return endWithError(call, errorData('PROTOCOL', `inbox overflow: the client sent more than its ${call.inboxWindow} items of credit`));
      if (call.checkInbox && !inboxItemValid(call, msg[2])) return;
      call.inbox.push(msg[2]);
      break;
    case P.INBOX_END:
      call.inbox?.end();
      break;
    default:
      endWithError(call, errorData('PROTOCOL', `unknown message type ${type}`));
  }
}

const reader = new FrameReader(maxPayload + 64, (conn, bytes) => {
  try {
    onMessage(conn, bytes);
  } catch (err) {
    // A bug of ours for one message must not end every call in flight.
    process.stderr.write(`agentix worker: failed to handle a message: ${(err as Error).stack ?? err}\n`);
    writeError(conn, 0, errorData('INTERNAL', `the worker failed to handle a message: ${(err as Error).message}`));
  }
});
pipe.on('data', (chunk: Buffer) => {
  try {
    reader.push(chunk);
  } catch (err) {
    process.stderr.write(`agentix worker: broken pipe framing (${(err as Error).message}); exiting\n`);
    process.exit(70);
  }
});

// Import every module up front, so the first call pays no import cost; failures surface per call.
await Promise.allSettled(Object.keys(manifest.modules).map((id) => loadModule(id)));
out.write(0, encode([P.W_READY, 0]));
