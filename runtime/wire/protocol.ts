/**
 * The wire protocol, as constants and types. `docs/protocol.md` is the prose
 * version of this file (and `docs/conformance/` its transcripts); keep them in
 * step.
 *
 * Every message is one msgpack array `[type, call_id, ...fields]` in one
 * binary WebSocket frame. The fixed two-element head lets the server route a
 * frame by peeking at a few bytes (`peekHead`, `peekCall`) without decoding
 * the arguments or results behind it.
 */
import { MAX_CALL_ID } from './limits.js';
import { readArrayHeader, readNumber, readStr, readUint } from './msgpack-peek.js';

/** Client → server. */
export const CALL = 1; //         [1, id, timeoutMs, target, args[], options{}?]   timeoutMs 0: no deadline
export const CANCEL = 2; //       [2, id]
export const INBOX_ITEM = 3; //   [3, id, item]
export const INBOX_END = 4; //    [4, id]
export const CREDIT = 5; //       [5, id, n]           more stream items the client can take

/** Server → client. */
export const RESULT = 16; //      [16, id, value]
export const ERROR = 17; //       [17, id, error{}]    id 0: about the connection, not a call
export const ITEM = 18; //        [18, id, value]
export const END = 19; //         [19, id]
export const INBOX_CREDIT = 20; //[20, id, n]          more inbox items the server can take
export const LOG = 21; //         [21, id, 'stdout'|'stderr', text]   id 0: not tied to a call
export const GOODBYE = 22; //     [22, 0, reason]

/** Server ↔ worker only (never on the WebSocket); see docs/protocol.md, "Inside the sandbox". */
export const W_READY = 40; //     worker → server [40, 0]: imports done, accepting calls
export const W_CLOSED = 41; //    server → worker [41, 0]: the connection in the pipe frame's prefix is gone
export const W_ALIVE = 43; //     worker → server [43, 0]: sent every heartbeat period while its event loop turns
export const W_PAUSE = 44; //     server → worker [44, 0]: the connection's client is not reading; hold its output
export const W_RESUME = 45; //    server → worker [45, 0]: it reads again
export const W_FAIL = 46; //      server → worker [46, id, error]: end the call with this error (its client sent an oversized message)

export const CLIENT_TYPES: ReadonlySet<number> = new Set([CALL, CANCEL, INBOX_ITEM, INBOX_END, CREDIT]);
/** Messages after which a call no longer exists on either side. */
export const isFinal = (type: number): boolean => type === RESULT || type === ERROR || type === END;

export type Shape = 'unary' | 'stream' | 'bidi';

/** The options map at the end of a CALL message. */
export interface WireCallOptions {
  /** Initial stream credit: how many items the server may send before the client grants more. 0: start paused. */
  credit?: number;
}

export const ErrorCodes = [
  'NOT_FOUND',
  'INVALID_ARGUMENT',
  'CANCELLED',
  'DEADLINE_EXCEEDED',
  'WORKER_EXITED',
  'UNAUTHENTICATED',
  'PAYLOAD_TOO_LARGE',
  'PROTOCOL',
  'UNAVAILABLE',
  'INTERNAL',
  'REMOTE',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/** An error as data: what travels in an ERROR message. */
export interface ErrorData {
  name: string;
  message: string;
  code: ErrorCode;
  stack?: string;
  cause?: ErrorData;
  data?: Record<string, unknown>;
}

/** Whether `id` may name a call: an integer from 1 to 2^32−1. */
export const isCallId = (id: number): boolean => Number.isInteger(id) && id >= 1 && id <= MAX_CALL_ID;

export interface Head {
  type: number;
  id: number;
  /** Element count of the message array. */
  length: number;
  /** Offset just after the call_id. */
  next: number;
}

/**
 * Reads `[type, call_id` from the start of a msgpack message without decoding
 * the rest. Undefined when the bytes do not start that way (or the integers
 * are negative or beyond 2^53).
 */
export function peekHead(buf: Uint8Array, start = 0): Head | undefined {
  const arr = readArrayHeader(buf, start);
  if (!arr || arr.value < 2) return undefined;
  const type = readUint(buf, arr.next);
  if (!type) return undefined;
  const id = readUint(buf, type.next);
  if (!id) return undefined;
  return { type: type.value, id: id.value, length: arr.value, next: id.next };
}

export interface CallHead {
  /** Raw `timeoutMs` as a number (validated by wire/deadline.ts: fromWireTimeout). */
  timeoutMs: number;
  /** Byte range of the target name. */
  target: { start: number; end: number };
  /** Offset of the args array. */
  args: number;
}

/**
 * The fixed part of a CALL after its head: `timeoutMs` (any msgpack number),
 * the target string and the start of an args array. Undefined when the
 * message does not have that layout; the arguments themselves are not read.
 */
export function peekCall(buf: Uint8Array, head: Head): CallHead | undefined {
  if (head.length < 5 || head.length > 6) return undefined;
  const timeout = readNumber(buf, head.next);
  if (!timeout) return undefined;
  const target = readStr(buf, timeout.next);
  if (!target) return undefined;
  if (!readArrayHeader(buf, target.next)) return undefined;
  return { timeoutMs: timeout.value, target: target.value, args: target.next };
}
