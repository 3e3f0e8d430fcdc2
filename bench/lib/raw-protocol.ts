/**
 * The floor's protocol: Agentix-shaped msgpack frames (`[type, id, ...]`) with
 * the least work a server can do. A unary frame is echoed back untouched (the
 * client correlates by id); a stream request makes the server send `n` item
 * frames and an end frame, pausing while the socket's buffer is full.
 */
export const RAW_CALL = 1; //   [1, id, target, args]   echoed as is
export const RAW_STREAM = 6; // [6, id, n]              → n × [18, id, i], then [19, id]
export const RAW_ITEM = 18;
export const RAW_END = 19;
/** Pause producing once this much is queued on the socket. */
export const HIGH_WATER_BYTES = 1024 * 1024;
