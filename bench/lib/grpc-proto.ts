/** Loads bench/proto/bench.proto the way grpc-js's docs advise (proto-loader, keepCase). */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export const PROTO_FILE = fileURLToPath(new URL('../proto/bench.proto', import.meta.url));

export function loadBenchService(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(PROTO_FILE, { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { bench: { Bench: grpc.ServiceClientConstructor } };
  return pkg.bench.Bench;
}

/** Room for the 1 MiB payload scenario (grpc-js's default cap is 4 MiB receive, unlimited send). */
export const GRPC_OPTIONS = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 };
