/** A bare WebSocket to the runtime, for tests that speak the protocol by hand (or break it on purpose). */
import WebSocket from 'ws';
import { decode } from '../../runtime/wire/codec.js';

export async function rawSocket(url: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, headers: { authorization: `Bearer ${token}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/** The next decoded message, skipping LOG lines; rejects after `timeoutMs` or when the socket closes. */
export function nextMessage(ws: WebSocket, timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(() => reject(new Error(`no message within ${timeoutMs} ms`))), timeoutMs);
    const onMessage = (data: Buffer) => {
      const msg = decode(data) as unknown[];
      if (msg[0] === 21) return;
      done(() => resolve(msg));
    };
    const onClose = (code: number) => done(() => reject(new Error(`socket closed (${code})`)));
    const done = (fn: () => void) => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
      fn();
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });
}
