/**
 * capnweb peer: one RpcTarget served over `ws`, as its README shows for Node.
 * Streams are capnweb's own: `count(n)` returns a `ReadableStream` and
 * `chat(inbox)` takes one and returns its echo; capnweb pumps them across the
 * connection with its own flow control.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import '../lib/capnweb-node.js';
import { RpcTarget, newWebSocketRpcSession } from 'capnweb';

/** Items the count stream buffers ahead of capnweb's pump (CountQueuingStrategy). */
const STREAM_HIGH_WATER = 1024;

class BenchApi extends RpcTarget {
  run(x: string): string { return x; }
  echoBytes(b: Uint8Array): Uint8Array { return b; }
  count(n: number): ReadableStream<number> {
    let i = 0;
    return new ReadableStream<number>({
      pull(c) {
        while (i < n && (c.desiredSize ?? 0) > 0) c.enqueue(i++);
        if (i >= n) c.close();
      },
    }, new CountQueuingStrategy({ highWaterMark: STREAM_HIGH_WATER }));
  }
  /**
   * The echo is a plain ReadableStream reading the inbox: capnweb recognises
   * streams by their exact prototype, and on Node 20 `pipeThrough`'s result has
   * another one.
   */
  chat(inbox: ReadableStream<string>): ReadableStream<string> {
    const reader = inbox.getReader();
    return new ReadableStream<string>({
      async pull(c) {
        const r = await reader.read();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }
}

const http = createServer((_req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
// `as any`: capnweb is typed against the DOM WebSocket; `ws` implements the same surface.
wss.on('connection', (ws) => { newWebSocketRpcSession(ws as any, new BenchApi()); });

http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as { port: number };
  console.log(`capnweb: listening on ws://127.0.0.1:${port}`);
});
