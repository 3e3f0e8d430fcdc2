/**
 * Errors as data. `toErrorData` turns anything thrown into the ErrorData that
 * travels on the wire; `RemoteError` is what the host sees. One place for both
 * directions so the rules stay symmetric.
 */
import { ErrorCodes, type ErrorCode, type ErrorData } from './protocol.js';

const CODES = new Set<string>(ErrorCodes);
const MAX_CAUSE_DEPTH = 4;

/** An error raised by the framework itself (not by user code), carrying its code. */
export class AgentixError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly data?: Record<string, unknown>) {
    super(message);
    this.name = 'AgentixError';
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

export function errorData(code: ErrorCode, message: string, data?: Record<string, unknown>): ErrorData {
  return data ? { name: 'AgentixError', code, message, data } : { name: 'AgentixError', code, message };
}

/**
 * Anything thrown → ErrorData. User exceptions become code REMOTE and keep
 * their name, message, stack, own enumerable fields (as `data`) and cause.
 */
export function toErrorData(err: unknown, depth = 0): ErrorData {
  if (err instanceof RemoteError) {
    return strip({ name: err.name, code: err.code, message: err.message, stack: err.remoteStack, data: err.data });
  }
  if (err instanceof AgentixError) return strip({ name: err.name, code: err.code, message: err.message, data: err.data });
  if (err instanceof Error) {
    const data: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(err)) {
      if (k === 'cause' || k === 'name' || k === 'message' || k === 'stack') continue;
      if (typeof v === 'function' || typeof v === 'symbol') continue;
      data[k] = v;
    }
    const cause = 'cause' in err && depth < MAX_CAUSE_DEPTH && err.cause !== undefined ? toErrorData(err.cause, depth + 1) : undefined;
    return strip({
      name: typeof err.name === 'string' ? err.name : 'Error',
      code: 'REMOTE',
      message: String(err.message),
      stack: err.stack,
      cause,
      data: Object.keys(data).length ? data : undefined,
    });
  }
  // A thrown non-Error (a string, a plain object): keep its value as data.
  return { name: 'Error', code: 'REMOTE', message: typeof err === 'string' ? err : safeString(err), data: { value: err } };
}

/** Checks and normalises an ERROR message's payload from the wire. */
export function fromWire(value: unknown): ErrorData {
  if (typeof value !== 'object' || value === null) return errorData('PROTOCOL', `malformed error payload: ${safeString(value)}`);
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

function strip(e: ErrorData): ErrorData {
  for (const k of Object.keys(e) as (keyof ErrorData)[]) if (e[k] === undefined) delete e[k];
  return e;
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}
