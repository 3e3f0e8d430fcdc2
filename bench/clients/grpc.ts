/** grpc-js client: one channel, insecure loopback, stubs from proto-loader; the bidi echo is one Chat call, one message in and its echo out at a time. */
import * as grpc from '@grpc/grpc-js';
import { GRPC_OPTIONS, loadBenchService } from '../lib/grpc-proto.js';
import type { ClientFactory } from './types.js';

type Unary<I, O> = (req: I, cb: (err: grpc.ServiceError | null, res: O) => void) => void;

export const connectGrpc: ClientFactory = async (url) => {
  const Bench = loadBenchService();
  const stub = new Bench(url, grpc.credentials.createInsecure(), GRPC_OPTIONS) as unknown as grpc.Client & {
    Run: Unary<{ value: string }, { value: string }>;
    EchoBytes: Unary<{ value: Uint8Array }, { value: Uint8Array }>;
    Count(req: { n: number }): grpc.ClientReadableStream<{ value: number }>;
    Chat(): grpc.ClientDuplexStream<{ value: string }, { value: string }>;
  };
  await new Promise<void>((resolve, reject) => stub.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
  const unary = <I, O>(m: Unary<I, O>, req: I) =>
    new Promise<O>((resolve, reject) => m.call(stub, req, (err, res) => (err ? reject(err) : resolve(res))));
  return {
    run: async (x) => (await unary(stub.Run, { value: x })).value,
    echoBytes: async (b) => (await unary(stub.EchoBytes, { value: b })).value,
    count: (n) => new Promise((resolve, reject) => {
      let items = 0;
      const s = stub.Count({ n });
      s.on('data', () => { items++; });
      s.on('end', () => resolve(items));
      s.on('error', reject);
    }),
    openChat: async () => {
      const chat = stub.Chat();
      let waiting: { resolve(x: string): void; reject(e: Error): void } | undefined;
      const ended = new Promise<void>((resolve) => chat.on('end', () => resolve()));
      chat.on('data', (m: { value: string }) => { const w = waiting; waiting = undefined; w?.resolve(m.value); });
      chat.on('error', (err: Error) => { const w = waiting; waiting = undefined; w?.reject(err); });
      return {
        roundTrip: (x) => new Promise<string>((resolve, reject) => { waiting = { resolve, reject }; chat.write({ value: x }); }),
        close: async () => { chat.end(); await ended; },
      };
    },
    close: async () => stub.close(),
  };
};
