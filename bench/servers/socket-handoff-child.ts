/**
 * The socket hand-off prototype's "user code" process (the parent is
 * bench/servers/socket-handoff.ts). Each connection arrives as a socket handle
 * over IPC; an HTTP server that never listens parses its upgrade, `ws` takes
 * it over, and from then on this process alone reads and writes it. Calls are
 * decoded and answered `[16, id, value]` with their own argument, as the naive
 * hop's child and Agentix's worker answer `run` (a bidi round trip is the same
 * echo, as for the floor); a stream request `[6, id, n]` is answered with the
 * floor's item frames, pausing while over HIGH_WATER_BYTES wait on the socket.
 * A heartbeat goes to the parent every interval; when the parent is gone, so
 * is this process.
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { decode, encode } from '../../runtime/wire/codec.js';
import { peekHead } from '../../runtime/wire/protocol.js';
import { RAW_STREAM, streamItems } from '../lib/raw-protocol.js';

const heartbeatMs = Number(process.argv[2]);
if (!(heartbeatMs > 0)) throw new Error(`socket-handoff-child: argv[2] must be the heartbeat interval in ms, got ${process.argv[2]}`);

const http = createServer((_req, res) => { res.writeHead(426).end(); });
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

process.on('message', (m: unknown, socket?: Socket) => {
  if (m !== 'socket' || !socket) return;
  socket.once('close', () => process.send!({ closed: true }));
  http.emit('connection', socket);
});
process.on('disconnect', () => process.exit(0));

wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer) => {
    if (peekHead(data)?.type === RAW_STREAM) {
      const [, id, n] = decode(data) as [number, number, number];
      void streamItems(ws, id, n);
      return;
    }
    const [, id, , args] = decode(data) as [number, number, string, unknown[]];
    ws.send(encode([16, id, args[0]]));
  });
});


setInterval(() => process.send!({ beat: true }), heartbeatMs);
process.send!({ ready: true });
