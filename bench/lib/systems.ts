/**
 * The systems under comparison: how to start each one's server (always its own
 * process) and which client adapter talks to it. Agentix's server comes from
 * `bench/lib/agentix-server.ts`; the peers' servers live in `bench/servers/`.
 */
import type { ClientFactory } from '../clients/types.js';

export type SystemName = 'raw-ws' | 'agentix' | 'naive-hop' | 'socket-handoff' | 'socketio' | 'grpc' | 'capnweb';

export interface SystemInfo {
  name: SystemName;
  label: string;
  /** Server script under bench/servers (absent: Agentix, started separately). */
  serverScript?: string;
  /** Scenarios this system takes part in. */
  scenarios: Scenario[];
}

export type Scenario = 'unary' | 'payload' | 'stream' | 'bidi';

export const SYSTEMS: SystemInfo[] = [
  { name: 'raw-ws', label: 'raw ws + msgpackr echo (floor)', serverScript: 'raw-ws.ts', scenarios: ['unary', 'payload', 'stream', 'bidi'] },
  { name: 'agentix', label: 'Agentix (server + worker subprocess)', scenarios: ['unary', 'payload', 'stream', 'bidi'] },
  { name: 'naive-hop', label: 'ws + msgpack + naive child-process IPC hop', serverScript: 'naive-hop.ts', scenarios: ['unary', 'payload', 'stream', 'bidi'] },
  { name: 'socket-handoff', label: 'ws + msgpack, socket handed to a child process (prototype)', serverScript: 'socket-handoff.ts', scenarios: ['unary', 'payload', 'stream', 'bidi'] },
  { name: 'socketio', label: 'Socket.IO emit-with-ack (websocket only)', serverScript: 'socketio.ts', scenarios: ['unary', 'payload', 'stream', 'bidi'] },
  { name: 'grpc', label: 'grpc-js (proto-loader, insecure loopback)', serverScript: 'grpc.ts', scenarios: ['unary', 'payload', 'stream', 'bidi'] },
  { name: 'capnweb', label: 'capnweb over WebSocket (ws)', serverScript: 'capnweb.ts', scenarios: ['unary', 'payload', 'stream', 'bidi'] },
];

export async function clientFactory(name: SystemName): Promise<ClientFactory> {
  switch (name) {
    case 'raw-ws': return (await import('../clients/raw-ws.js')).connectRawWs;
    case 'naive-hop': return (await import('../clients/raw-ws.js')).connectNaiveHop;
    case 'socket-handoff': return (await import('../clients/raw-ws.js')).connectSocketHandoff;
    case 'agentix': return (await import('../clients/agentix.js')).connectAgentix;
    case 'socketio': return (await import('../clients/socketio.js')).connectSocketIo;
    case 'grpc': return (await import('../clients/grpc.js')).connectGrpc;
    case 'capnweb': return (await import('../clients/capnweb.js')).connectCapnweb;
  }
}
