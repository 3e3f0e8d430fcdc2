/**
 * capnweb reads the global `WebSocket` (for its readyState constants); Node 20
 * has none, so give it `ws`'s class, which has the same surface. Node 22+
 * already has one and keeps it.
 */
import { WebSocket } from 'ws';

(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
