/**
 * Every default and bound of the runtime, in one place. Client, server and
 * worker import them from here; `docs/protocol.md` ("Limits and defaults")
 * lists the same numbers. The server's environment can change the ones marked
 * so (see runtime/server/main.ts).
 */

export const DEFAULT_PORT = 8000;

/** Largest call id; ids are unsigned 32-bit so every msgpack library encodes them the same way. */
export const MAX_CALL_ID = 0xffff_ffff;

/** Stream items the server may send before the client grants more (CALL option `credit`). */
export const DEFAULT_STREAM_CREDIT = 256;
/** Bidi inbox items a client may have outstanding; the server's first INBOX_CREDIT grants this many. */
export const DEFAULT_INBOX_CREDIT = 64;

/** Bytes in one message, either direction (AGENTIX_MAX_PAYLOAD). */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;
/**
 * What one message may cost once decoded, estimated before decoding (see
 * wire/msgpack-scan.ts): a few bytes of msgpack can stand for a lot of memory
 * (an empty array is one byte on the wire and dozens in the heap).
 */
export const decodedBudget = (maxPayload: number): number => Math.max(256 * 1024 * 1024, 4 * maxPayload);
/** Nesting depth of a message; deeper ones are refused before decoding (a decoder recursing that deep would overflow its stack). */
export const MAX_DEPTH = 512;

/**
 * Bytes queued towards one client beyond which the server stops reading from
 * it, the worker stops starting its calls and pulling its streams, and its log
 * lines are dropped (counted, with a marker) — AGENTIX_SEND_QUEUE_BYTES.
 */
export const DEFAULT_SEND_QUEUE_BYTES = 8 * 1024 * 1024;
/** How long a client may stay over its send queue bound before it is disconnected (AGENTIX_STUCK_CLIENT_MS). */
export const DEFAULT_STUCK_CLIENT_MS = 30_000;
/**
 * Bytes of messages received but not complete yet, summed over every
 * connection. Past it, connections that are in the middle of a large message
 * are paused until others complete (ws holds each incomplete message whole).
 */
export const receiveBudget = (maxPayload: number): number => 2 * (2 * maxPayload + 1024) + 16 * 1024 * 1024;

/** Frames that break the protocol after which a connection is closed (1002). */
export const MAX_PROTOCOL_ERRORS = 100;
/** A TCP connection must complete its HTTP request (upgrade or route) within this. */
export const REQUEST_HEADER_TIMEOUT_MS = 10_000;
/** TCP connections that have not completed a request yet; past it the oldest is dropped. */
export const MAX_UNAUTHENTICATED_CONNECTIONS = 64;

/** How long the worker may stay unresponsive while it owes an answer before it is judged hung (AGENTIX_HANG_GRACE_MS). */
export const DEFAULT_HANG_GRACE_MS = 1000;
/** How long SIGTERM waits for calls in flight (AGENTIX_SHUTDOWN_GRACE_MS). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;
/** How long the first worker may take to import the project. */
export const DEFAULT_WORKER_START_MS = 60_000;

/**
 * The worker runs queued frames for at most this long before it lets its
 * event loop turn (heartbeats, timers, I/O): a burst of short synchronous
 * calls never looks like a hang.
 */
export const WORKER_SLICE_MS = 10;
/** Bytes a worker gathers for the pipe before it stops taking new frames until they are flushed. */
export const WORKER_PENDING_BYTES = 4 * 1024 * 1024;
/** Log bytes a worker holds for the pipe in one turn of its event loop; beyond, output is dropped and counted. */
export const WORKER_LOG_PENDING_BYTES = 1024 * 1024;
