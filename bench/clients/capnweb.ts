/** capnweb client: one WebSocket session (a `ws` socket handed to `newWebSocketRpcSession`). */
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
    close: async () => {
      api[Symbol.dispose]?.();
      ws.close();
    },
  };
};
