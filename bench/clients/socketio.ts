/**
 * Socket.IO client: one socket, WebSocket transport only, compression off,
 * `emitWithAck` for unary calls; the stream and bidi scenarios use the events
 * bench/servers/socketio.ts describes.
 */
import { io } from 'socket.io-client';
import { CREDIT_EVERY } from '../lib/socketio-stream.js';
import type { ClientFactory } from './types.js';

export const connectSocketIo: ClientFactory = async (url) => {
  const socket = io(url, { transports: ['websocket'], perMessageDeflate: false, reconnection: false, timeout: 10_000 } as never);
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('connect_error', reject); });

  const streams = new Map<number, { items: number; done(): void }>();
  let nextStream = 1;
  socket.on('item', (id: number) => {
    const s = streams.get(id);
    if (!s) return;
    s.items++;
    if (s.items % CREDIT_EVERY === 0) socket.emit('credit', id, s.items);
  });
  socket.on('end', (id: number) => streams.get(id)?.done());

  return {
    run: (x) => socket.emitWithAck('run', x) as Promise<string>,
    echoBytes: (b) => socket.emitWithAck('echoBytes', b) as Promise<Uint8Array>,
    count: (n) => new Promise((resolve, reject) => {
      const id = nextStream++;
      const s = { items: 0, done: () => { streams.delete(id); socket.off('disconnect', lost); resolve(s.items); } };
      const lost = () => { streams.delete(id); reject(new Error('socket disconnected during the stream')); };
      socket.once('disconnect', lost);
      streams.set(id, s);
      socket.emit('count', id, n);
    }),
    openChat: async () => {
      // One chat at a time on this socket: each round trip waits for the next `chat` event.
      let waiting: ((x: string) => void) | undefined;
      const onChat = (x: string) => { const w = waiting; waiting = undefined; w?.(x); };
      socket.on('chat', onChat);
      return {
        roundTrip: (x) => new Promise<string>((resolve) => { waiting = resolve; socket.emit('chat', x); }),
        close: async () => { socket.off('chat', onChat); },
      };
    },
    close: async () => { socket.close(); },
  };
};
