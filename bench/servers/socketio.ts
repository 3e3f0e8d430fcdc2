/**
 * Socket.IO peer (the Python original's transport): emit-with-ack, WebSocket
 * transport only, no compression. Socket.IO has no streams of its own, so the
 * stream and bidi scenarios are built the way an application would:
 *
 * - stream: `count(id, n)` makes the server emit `item(id, i)` n times, then
 *   `end(id)`; flow control is a credit window: the server keeps at most
 *   STREAM_WINDOW items beyond what the client has acknowledged with
 *   `credit(id, consumed)` (bench/lib/socketio-stream.ts);
 * - bidi: every `chat(x)` the client emits is emitted straight back as `chat(x)`.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { STREAM_WINDOW } from '../lib/socketio-stream.js';

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024 * 1024, // room for the 1 MiB payload scenario
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('run', (x: string, ack: (r: string) => void) => ack(x));
  socket.on('echoBytes', (b: Buffer, ack: (r: Buffer) => void) => ack(b));
  socket.on('chat', (x: string) => { socket.emit('chat', x); });

  /** Per stream: the next item to send, how many there are, how many the client has consumed. */
  const streams = new Map<number, { next: number; n: number; acked: number }>();
  const pump = (id: number) => {
    const s = streams.get(id);
    if (!s) return;
    while (s.next < s.n && s.next - s.acked < STREAM_WINDOW) socket.emit('item', id, s.next++);
    if (s.next === s.n) {
      streams.delete(id);
      socket.emit('end', id);
    }
  };
  socket.on('count', (id: number, n: number) => {
    streams.set(id, { next: 0, n, acked: 0 });
    pump(id);
  });
  socket.on('credit', (id: number, consumed: number) => {
    const s = streams.get(id);
    if (s) s.acked = Math.max(s.acked, consumed);
    pump(id);
  });
  socket.on('disconnect', () => streams.clear());
});

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as { port: number };
  console.log(`socketio: listening on ws://127.0.0.1:${port}`);
});
