/**
 * The reference the design cites: the obvious way to put user code in a
 * separate process. The server decodes every frame, hands the message to a
 * child process over Node's IPC channel, and encodes the child's answer back.
 * (Agentix instead routes frames to its worker without decoding them.)
 * Streams go through the child too (bench/servers/naive-hop-child.ts): the
 * server forwards each item and tells the child to pause while more than
 * HIGH_WATER_BYTES wait on the client's socket.
 */
import { fork } from 'node:child_process';
import { WebSocketServer, WebSocket } from 'ws';
import { decode, encode } from '../../runtime/wire/codec.js';
import { TSX_ARGS } from '../lib/node-args.js';
import { HIGH_WATER_BYTES } from '../lib/raw-protocol.js';

// 'advanced' (structured clone) so byte arrays survive the hop; JSON IPC would mangle them.
const child = fork(new URL('./naive-hop-child.ts', import.meta.url).pathname, [], {
  serialization: 'advanced',
  execArgv: TSX_ARGS,
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
process.on('SIGTERM', () => { child.kill(); process.exit(0); });

const sockets = new Map<number, WebSocket>();
/** Connections whose child stream is paused until the socket drains. */
const pausedConns = new Set<number>();
let nextConn = 1;

child.on('message', (msg: { conn: number; reply: unknown }) => {
  const ws = sockets.get(msg.conn);
  if (ws?.readyState !== WebSocket.OPEN) return;
  if (ws.bufferedAmount > HIGH_WATER_BYTES && !pausedConns.has(msg.conn)) {
    pausedConns.add(msg.conn);
    child.send({ pause: msg.conn });
    ws.send(encode(msg.reply), () => { pausedConns.delete(msg.conn); child.send({ resume: msg.conn }); });
    return;
  }
  ws.send(encode(msg.reply));
});

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => {
  const conn = nextConn++;
  sockets.set(conn, ws);
  ws.on('close', () => {
    sockets.delete(conn);
    // a stream paused for this socket must not wait for a drain that never comes
    if (pausedConns.delete(conn)) child.send({ resume: conn });
  });
  ws.on('message', (data: Buffer) => child.send({ conn, msg: decode(data) }));
});
wss.on('listening', () => {
  const { port } = wss.address() as { port: number };
  console.log(`naive-hop: listening on ws://127.0.0.1:${port}`);
});
