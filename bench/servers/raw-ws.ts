/**
 * The floor: a `ws` server that echoes each frame back unchanged, without
 * decoding it, plus a flow-controlled item stream. Nothing real can be faster
 * on the same socket library and codec.
 */
import { WebSocketServer } from 'ws';
import { peekHead } from '../../runtime/wire/protocol.js';
import { decode } from '../../runtime/wire/codec.js';
import { RAW_STREAM, streamItems } from '../lib/raw-protocol.js';

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


wss.on('listening', () => {
  const { port } = wss.address() as { port: number };
  console.log(`raw-ws: listening on ws://127.0.0.1:${port}`);
});
