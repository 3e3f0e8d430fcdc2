/**
 * The floor: a `ws` server that echoes each frame back unchanged, without
 * decoding it, plus a flow-controlled item stream. Nothing real can be faster
 * on the same socket library and codec.
 */
import { WebSocketServer, WebSocket } from 'ws';
import { peekHead } from '../../runtime/wire/protocol.js';
import { decode, encode } from '../../runtime/wire/codec.js';
import { HIGH_WATER_BYTES, RAW_END, RAW_ITEM, RAW_STREAM } from '../lib/raw-protocol.js';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer, isBinary) => {
    const head = peekHead(data);
    if (head?.type === RAW_STREAM) {
      const [, id, n] = decode(data) as [number, number, number];
      void streamItems(ws, id, n);
      return;
    }
    ws.send(data, { binary: isBinary });
  });
});

async function streamItems(ws: WebSocket, id: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (ws.readyState !== WebSocket.OPEN) return;
    const frame = encode([RAW_ITEM, id, i]);
    if (ws.bufferedAmount > HIGH_WATER_BYTES) await new Promise<void>((resolve) => ws.send(frame, () => resolve()));
    else ws.send(frame);
  }
  ws.send(encode([RAW_END, id]));
}

wss.on('listening', () => {
  const { port } = wss.address() as { port: number };
  console.log(`raw-ws: listening on ws://127.0.0.1:${port}`);
});
