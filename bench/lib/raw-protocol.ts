/**
 * The floor's protocol: Agentix-shaped msgpack frames (`[type, id, ...]`) with
 * the least work a server can do. A unary frame is echoed back untouched (the
 * client correlates by id); a stream request makes the server send `n` item
 * frames and an end frame, pausing while the socket's buffer is full.
 */
import { WebSocket } from 'ws';
import { encode } from '../../runtime/wire/codec.js';

export const RAW_CALL = 1; //   [1, id, target, args]   echoed as is
export const RAW_STREAM = 6; // [6, id, n]              → n × [18, id, i], then [19, id]
export const RAW_ITEM = 18;
export const RAW_END = 19;
/** Pause producing once this much is queued on the socket. */
export const HIGH_WATER_BYTES = 1024 * 1024;

/** The server side of a stream request: `n` items, then the end, waiting while the socket holds more than HIGH_WATER_BYTES. */
export async function streamItems(ws: WebSocket, id: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (ws.readyState !== WebSocket.OPEN) return;
    const frame = encode([RAW_ITEM, id, i]);
    if (ws.bufferedAmount > HIGH_WATER_BYTES) await new Promise<void>((resolve) => ws.send(frame, () => resolve()));
    else ws.send(frame);
  }
  ws.send(encode([RAW_END, id]));
}
