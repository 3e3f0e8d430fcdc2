/** Socket.IO client: one socket, WebSocket transport only, compression off, `emitWithAck`. */
import { io } from 'socket.io-client';
import type { ClientFactory } from './types.js';

export const connectSocketIo: ClientFactory = async (url) => {
  const socket = io(url, { transports: ['websocket'], perMessageDeflate: false, reconnection: false, timeout: 10_000 } as never);
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('connect_error', reject); });
  return {
    run: (x) => socket.emitWithAck('run', x) as Promise<string>,
    echoBytes: (b) => socket.emitWithAck('echoBytes', b) as Promise<Uint8Array>,
    close: async () => { socket.close(); },
  };
};
