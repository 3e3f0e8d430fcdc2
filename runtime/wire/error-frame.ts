/**
 * The bytes of an ERROR message, made in one place by the two processes that
 * send them (the server for its own refusals, the worker for calls). Kept out
 * of errors.ts, which user bundles import, so that they do not carry the
 * encoder.
 */
import { encode } from './codec.js';
import { safeString } from './errors.js';
import { ERROR, type ErrorData } from './protocol.js';

/**
 * The bytes of `[ERROR, id, error]`, always: fields that cannot be encoded
 * (user data, a cause) are dropped with a note, and an error too large for
 * `maxBytes` is cut down to its name and the start of its message.
 */
export function encodeError(id: number, error: ErrorData, maxBytes: number): Buffer {
  let bytes: Buffer;
  try {
    bytes = encode([ERROR, id, error]);
  } catch (err) {
    const bare: ErrorData = { name: String(error.name), code: error.code, message: `${String(error.message)} (its details could not be encoded: ${safeString((err as Error)?.message ?? err)})` };
    if (typeof error.stack === 'string') bare.stack = error.stack;
    bytes = encode([ERROR, id, bare]);
  }
  if (bytes.length <= maxBytes) return bytes;
  return encode([ERROR, id, { name: error.name, code: error.code, message: `${error.message.slice(0, 2000)} (error of ${bytes.length} bytes cut to fit the ${maxBytes}-byte limit)` }]);
}
