/** grpc-js peer: unary Run/EchoBytes, server-streaming Count and bidi-streaming Chat (an echo) on an insecure loopback port. */
import * as grpc from '@grpc/grpc-js';
import { GRPC_OPTIONS, loadBenchService } from '../lib/grpc-proto.js';

const Bench = loadBenchService();
const server = new grpc.Server(GRPC_OPTIONS);

server.addService(Bench.service, {
  Run: (call: grpc.ServerUnaryCall<{ value: string }, unknown>, cb: grpc.sendUnaryData<{ value: string }>) => cb(null, { value: call.request.value }),
  EchoBytes: (call: grpc.ServerUnaryCall<{ value: Buffer }, unknown>, cb: grpc.sendUnaryData<{ value: Buffer }>) => cb(null, { value: call.request.value }),
  Count: async (call: grpc.ServerWritableStream<{ n: number }, { value: number }>) => {
    const n = call.request.n;
    for (let i = 0; i < n; i++) {
      if (call.cancelled) return;
      // write() returning false is grpc-js's backpressure signal: wait for 'drain'.
      if (!call.write({ value: i })) await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
  },
  Chat: (call: grpc.ServerDuplexStream<{ value: string }, { value: string }>) => {
    call.on('data', (m: { value: string }) => call.write({ value: m.value }));
    call.on('end', () => call.end());
  },
});

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`grpc: listening on 127.0.0.1:${port}`);
});
