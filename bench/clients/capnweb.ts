/**
 * capnweb client: one WebSocket session (a `ws` socket handed to
 * `newWebSocketRpcSession`). The stream is the `ReadableStream` `count(n)`
 * returns; the bidi echo sends a `ReadableStream` the client writes into and
 * reads the one `chat` returns.
 */
import { WebSocket } from 'ws';
import '../lib/capnweb-node.js';
import { newWebSocketRpcSession } from 'capnweb';
import type { ClientFactory } from './types.js';

export const connectCapnweb: ClientFactory = async (url) => {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  // `any`: the stub's methods are typed from the server's class, which lives in another process here.
  const api: any = newWebSocketRpcSession(ws as any);
  return {
    run: (x) => api.run(x) as Promise<string>,
    echoBytes: (b) => api.echoBytes(b) as Promise<Uint8Array>,
    count: async (n) => {
      const items = (await api.count(n)) as ReadableStream<number>;
      let got = 0;
      for await (const _ of items as unknown as AsyncIterable<number>) got++;
      return got;
    },
    openChat: async () => {
      let inbox!: ReadableStreamDefaultController<string>;
      const sent = new ReadableStream<string>({ start(c) { inbox = c; } });
      const echoes = ((await api.chat(sent)) as ReadableStream<string>).getReader();
      return {
        roundTrip: async (x) => {
          inbox.enqueue(x);
          const r = await echoes.read();
          if (r.done) throw new Error('chat ended early');
          return r.value;
        },
        close: async () => {
          inbox.close();
          while (!(await echoes.read()).done);
        },
      };
    },
    close: async () => {
      api[Symbol.dispose]?.();
      ws.close();
    },
  };
};
