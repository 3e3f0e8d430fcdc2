/**
 * The credit window of the Socket.IO stream (server: bench/servers/socketio.ts,
 * client: bench/clients/socketio.ts). The server never has more than
 * STREAM_WINDOW items out beyond the client's last `credit`; the client sends
 * one every CREDIT_EVERY items it consumed, so the window never runs dry while
 * the acknowledgement travels.
 */
export const STREAM_WINDOW = 1024;
export const CREDIT_EVERY = 256;
