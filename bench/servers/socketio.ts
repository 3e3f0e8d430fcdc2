/** Socket.IO peer (the Python original's transport): emit-with-ack, WebSocket transport only, no compression. */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

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
});

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as { port: number };
  console.log(`socketio: listening on ws://127.0.0.1:${port}`);
});
