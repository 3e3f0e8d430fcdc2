/**
 * Write batching for WebSockets. `ws` writes every frame to its socket at
 * once; when many frames go out in one tick (64 results arriving in one pipe
 * read, 64 calls issued in a loop) that is one syscall per frame. Corking the
 * socket for the rest of the tick turns them into one write, without delaying
 * a lone frame (it leaves on the next microtask turn).
 */
import type { Socket } from 'node:net';
import type WebSocket from 'ws';

const corked = new Set<Socket>();
let scheduled = false;

function uncorkAll(): void {
  scheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/** Holds back writes on `ws` until the current tick ends. */
export function corkForTick(ws: WebSocket): void {
  // `_socket` is ws's underlying net.Socket; not public API, but stable across ws 8.x.
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (!socket || corked.has(socket) || socket.destroyed) return;
  socket.cork();
  corked.add(socket);
  if (!scheduled) {
    scheduled = true;
    process.nextTick(uncorkAll);
  }
}
