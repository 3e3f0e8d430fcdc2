/**
 * Client for the floor, the naive hop and the socket hand-off prototype: msgpack frames over `ws`, many
 * calls in flight, replies matched by call id. The floor echoes the call frame
 * itself (`[1, id, target, args]`); the naive hop and the hand-off's child
 * answer `[16, id, value]`.
 * Streams: `[6, id, n]` out, n × `[18, id, i]` and `[19, id]` back.
 */
import { WebSocket } from 'ws';
import { decode, encode } from '../../runtime/wire/codec.js';
import { RAW_CALL, RAW_END, RAW_ITEM, RAW_STREAM } from '../lib/raw-protocol.js';
import type { BenchClient, ClientFactory } from './types.js';

interface Pending { resolve(v: unknown): void; reject(e: Error): void; onItem?: () => void }

export const connectRawWs: ClientFactory = async (url) => {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  ws.on('message', (data: Buffer) => {
    const msg = decode(data) as unknown[];
    const id = msg[1] as number;
    const p = pending.get(id);
    if (!p) return;
    switch (msg[0]) {
      case RAW_CALL: pending.delete(id); p.resolve((msg[3] as unknown[])[0]); break;
      case 16: pending.delete(id); p.resolve(msg[2]); break;
      case RAW_ITEM: p.onItem?.(); break;
      case RAW_END: pending.delete(id); p.resolve(undefined); break;
    }
  });
  ws.on('close', () => { for (const p of pending.values()) p.reject(new Error('socket closed')); pending.clear(); });

  const call = (target: string, arg: unknown): Promise<unknown> => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(encode([RAW_CALL, id, target, [arg]]));
  });

  const client: BenchClient = {
    run: (x) => call('run', x) as Promise<string>,
    echoBytes: (b) => call('echoBytes', b) as Promise<Uint8Array>,
    count: (n) => new Promise((resolve, reject) => {
      const id = nextId++;
      let items = 0;
      pending.set(id, { resolve: () => resolve(items), reject, onItem: () => { items++; } });
      ws.send(encode([RAW_STREAM, id, n]));
    }),
    // The floor for a bidi echo is the same echo: one frame out, one frame back.
    openChat: async () => ({ roundTrip: (x) => call('chat', x) as Promise<string>, close: async () => {} }),
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((resolve) => { ws.once('close', () => resolve()); ws.close(); setTimeout(resolve, 2000).unref(); });
    },
  };
  return client;
};

/**
 * The naive hop speaks the floor's protocol: its child answers calls
 * `[16, id, value]` (bidi round trips included, the same echo as the floor's)
 * and streams the floor's item frames.
 */
export const connectNaiveHop: ClientFactory = connectRawWs;

/**
 * The socket hand-off prototype's child speaks the floor's protocol on the
 * socket it was handed, answering calls `[16, id, value]` as the naive hop does.
 */
export const connectSocketHandoff: ClientFactory = connectRawWs;
