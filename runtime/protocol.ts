/**
 * The wire protocol, as constants and types. `docs/protocol.md` is the prose
 * version of this file; keep the two in step.
 *
 * Every message is one msgpack array `[type, call_id, ...fields]` in one
 * binary WebSocket frame. The fixed two-element head lets the server route a
 * frame by peeking at a few bytes (see `peekHead`) without decoding the
 * arguments or results behind it.
 */

/** Client → server. */
export const CALL = 1; //         [1, id, timeoutMs, target, args[], options{}]   timeoutMs 0: no deadline
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

/** Server ↔ worker only (never on the WebSocket). */
export const W_READY = 40; //     worker → server [40, 0]: imports done, accepting calls
export const W_CLOSED = 41; //    server → worker [41, 0]: the connection in the pipe frame's prefix is gone

export const MESSAGE_TYPES = new Set([CALL, CANCEL, INBOX_ITEM, INBOX_END, CREDIT]);
/** Messages after which a call no longer exists on either side. */
export const isFinal = (type: number): boolean => type === RESULT || type === ERROR || type === END;

export type Shape = 'unary' | 'stream' | 'bidi';

/** The options map at the end of a CALL message. */
export interface WireCallOptions {
  /** Initial stream credit: how many items the server may send before the client grants more. */
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

/** Defaults shared by client, server and worker. */
export const DEFAULT_PORT = 8000;
export const DEFAULT_STREAM_CREDIT = 256;
export const DEFAULT_INBOX_CREDIT = 64;
export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;
/** setTimeout's largest delay (longer ones fire at once); a deadline beyond it is as good as none. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Largest call id; ids are unsigned 32-bit so every msgpack library encodes them the same way. */
export const MAX_CALL_ID = 0xffff_ffff;

/**
 * Reads `[type, call_id` from the start of a msgpack-encoded message without
 * decoding the rest. Returns undefined when the bytes do not start that way.
 * Accepts every msgpack encoding of a non-negative integer up to 2^32-1.
 */
export function peekHead(buf: Uint8Array, start = 0): { type: number; id: number; next: number } | undefined {
  const b0 = buf[start];
  let p = start + 1;
  if (b0 === undefined) return undefined;
  if ((b0 & 0xf0) === 0x90) {
    if ((b0 & 0x0f) < 2) return undefined;
  } else if (b0 === 0xdc) p += 2; // array 16
  else if (b0 === 0xdd) p += 4; // array 32
  else return undefined;
  const type = readUint(buf, p);
  if (!type) return undefined;
  const id = readUint(buf, type.next);
  if (!id) return undefined;
  return { type: type.value, id: id.value, next: id.next };
}

/** Reads the `timeoutMs` that follows the head of a CALL (see `peekHead`). */
export function peekTimeout(buf: Uint8Array, next: number): number | undefined {
  return readUint(buf, next)?.value;
}

function readUint(buf: Uint8Array, p: number): { value: number; next: number } | undefined {
  const b = buf[p];
  if (b === undefined) return undefined;
  if (b <= 0x7f) return { value: b, next: p + 1 };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = (n: number) => p + 1 + n <= buf.length;
  switch (b) {
    case 0xcc: case 0xd0:
      if (!need(1)) return undefined;
      return nonNegative(b === 0xcc ? view.getUint8(p + 1) : view.getInt8(p + 1), p + 2);
    case 0xcd: case 0xd1:
      if (!need(2)) return undefined;
      return nonNegative(b === 0xcd ? view.getUint16(p + 1) : view.getInt16(p + 1), p + 3);
    case 0xce: case 0xd2:
      if (!need(4)) return undefined;
      return nonNegative(b === 0xce ? view.getUint32(p + 1) : view.getInt32(p + 1), p + 5);
    case 0xcf: case 0xd3: {
      if (!need(8)) return undefined;
      const v = view.getBigInt64(p + 1);
      if (v < 0n || v > BigInt(MAX_CALL_ID)) return undefined;
      return { value: Number(v), next: p + 9 };
    }
    default:
      return undefined;
  }
}

const nonNegative = (value: number, next: number) => (value >= 0 ? { value, next } : undefined);
