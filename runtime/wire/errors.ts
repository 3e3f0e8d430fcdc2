/**
 * Errors as data, the one convention for every process:
 *   - `AgentixError` is an error raised by the framework itself (not by user
 *     code); it carries a protocol code and becomes ERROR data as is.
 *   - `toErrorData` turns anything thrown into the ErrorData that travels on
 *     the wire; it never throws, whatever it is given (a Proxy, an Error whose
 *     getters throw, a value that cannot be encoded).
 *   - `encodeError` (error-frame.ts) makes the ERROR message bytes; it never
 *     throws either and always fits the size limit.
 *   - `RemoteError` is what the host sees for a failed call.
 *
 * No encoder here: user bundles import this module through the sandbox API
 * ('agentix'), and msgpackr would be a second copy of ~100 KB of JS loaded
 * into the worker with every module that throws an AgentixError.
 */
import { ErrorCodes, type ErrorCode, type ErrorData } from './protocol.js';

const CODES = new Set<string>(ErrorCodes);
const MAX_CAUSE_DEPTH = 4;
const MAX_MESSAGE_CHARS = 64 * 1024;

/** An error raised by the framework itself (not by user code), carrying its protocol code. */
export class AgentixError extends Error {
  override readonly name: string = 'AgentixError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly data?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toData(): ErrorData {
    return frameworkError(this.code, this.message, this.data);
  }
}

/** The host-side error for a failed call. `name` and `message` are the remote error's own. */
export class RemoteError extends Error {
  readonly code: ErrorCode;
  readonly remoteStack?: string;
  readonly data?: Record<string, unknown>;
  [field: string]: unknown;

  constructor(e: ErrorData) {
    super(e.message, e.cause ? { cause: new RemoteError(e.cause) } : undefined);
    this.name = e.name;
    this.code = e.code;
    if (e.stack) this.remoteStack = e.stack;
    if (e.data) {
      this.data = e.data;
      // The remote error's own fields are also readable on the error itself, unless they would shadow ours.
      for (const [k, v] of Object.entries(e.data)) if (!(k in this)) (this as Record<string, unknown>)[k] = v;
    }
    if (e.stack) this.stack = `${this.name} [${this.code}]: ${this.message}\n    --- remote stack ---\n${e.stack}`;
  }

  toJSON(): ErrorData {
    return toErrorData(this);
  }
}

/** ErrorData of a framework error: `name` is always "AgentixError". */
export function frameworkError(code: ErrorCode, message: string, data?: Record<string, unknown>): ErrorData {
  return data ? { name: 'AgentixError', code, message, data } : { name: 'AgentixError', code, message };
}

/**
 * Anything thrown → ErrorData. User exceptions become code REMOTE and keep
 * their name, message, stack, own enumerable fields (as `data`) and cause
 * (depth ≤ 4). A thrown non-Error becomes `{ name: "Error", code: "REMOTE",
 * message: <its description>, data: { value } }`. Never throws: whatever
 * cannot be read is described instead.
 */
export function toErrorData(err: unknown, depth = 0): ErrorData {
  try {
    return describe(err, depth);
  } catch (inner) {
    return { name: 'Error', code: 'REMOTE', message: `a thrown value that could not be inspected (${safeString(inner)})` };
  }
}

function describe(err: unknown, depth: number): ErrorData {
  if (err instanceof RemoteError) return strip({ name: err.name, code: err.code, message: err.message, stack: err.remoteStack, data: err.data });
  if (err instanceof AgentixError) return err.toData();
  if (isError(err)) {
    const data: Record<string, unknown> = {};
    for (const k of safeKeys(err)) {
      if (k === 'cause' || k === 'name' || k === 'message' || k === 'stack') continue;
      const v = safeGet(err, k);
      if (v.ok && typeof v.value !== 'function' && typeof v.value !== 'symbol') data[k] = v.value;
    }
    const cause = safeGet(err, 'cause');
    const name = safeGet(err, 'name');
    const message = safeGet(err, 'message');
    const stack = safeGet(err, 'stack');
    return strip({
      name: name.ok && typeof name.value === 'string' ? name.value : 'Error',
      code: 'REMOTE',
      message: message.ok ? clip(typeof message.value === 'string' ? message.value : safeString(message.value)) : '(its message could not be read)',
      stack: stack.ok && typeof stack.value === 'string' ? stack.value : undefined,
      cause: cause.ok && cause.value !== undefined && depth < MAX_CAUSE_DEPTH ? toErrorData(cause.value, depth + 1) : undefined,
      data: Object.keys(data).length ? data : undefined,
    });
  }
  // A thrown non-Error (a string, a plain object): keep its value as data.
  return { name: 'Error', code: 'REMOTE', message: clip(typeof err === 'string' ? err : safeString(err)), data: { value: err } };
}

/** Checks and normalises an ERROR message's payload from the wire. */
export function fromWire(value: unknown): ErrorData {
  if (typeof value !== 'object' || value === null) return frameworkError('PROTOCOL', `malformed error payload: ${safeString(value)}`);
  const v = value as Record<string, unknown>;
  const code = typeof v.code === 'string' && CODES.has(v.code) ? (v.code as ErrorCode) : 'INTERNAL';
  return strip({
    name: typeof v.name === 'string' ? v.name : 'Error',
    code,
    message: typeof v.message === 'string' ? v.message : safeString(v.message),
    stack: typeof v.stack === 'string' ? v.stack : undefined,
    cause: v.cause !== undefined && v.cause !== null ? fromWire(v.cause) : undefined,
    data: typeof v.data === 'object' && v.data !== null ? (v.data as Record<string, unknown>) : undefined,
  });
}

/** A short, never-throwing description of any value. */
export function safeString(v: unknown): string {
  try {
    if (typeof v === 'string') return v;
    if (typeof v === 'object' && v !== null) return JSON.stringify(v) ?? Object.prototype.toString.call(v);
    return String(v);
  } catch {
    try {
      return Object.prototype.toString.call(v);
    } catch {
      return '(an object that cannot be described)';
    }
  }
}

function isError(v: unknown): v is Error {
  try {
    return v instanceof Error;
  } catch {
    return false;
  }
}

function safeKeys(v: object): string[] {
  try {
    return Object.keys(v);
  } catch {
    return [];
  }
}

function safeGet(v: object, key: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: (v as Record<string, unknown>)[key] };
  } catch {
    return { ok: false };
  }
}

const clip = (s: string) => (s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}… (${s.length} characters)` : s);

function strip(e: ErrorData): ErrorData {
  for (const k of Object.keys(e) as (keyof ErrorData)[]) if (e[k] === undefined) delete e[k];
  return e;
}
