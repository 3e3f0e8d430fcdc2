/** capnweb peer: one RpcTarget served over `ws`, as its README shows for Node. */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import '../lib/capnweb-node.js';
import { RpcTarget, newWebSocketRpcSession } from 'capnweb';

class BenchApi extends RpcTarget {
  run(x: string): string { return x; }
  echoBytes(b: Uint8Array): Uint8Array { return b; }
}

const http = createServer((_req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
// `as any`: capnweb is typed against the DOM WebSocket; `ws` implements the same surface.
wss.on('connection', (ws) => { newWebSocketRpcSession(ws as any, new BenchApi()); });

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as { port: number };
  console.log(`capnweb: listening on ws://127.0.0.1:${port}`);
});
