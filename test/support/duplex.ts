/**
 * A RuntimeClient wired straight into a worker's CallEngine, in this process:
 * no server, no sockets, no subprocess. Messages cross on the next turn of the
 * event loop, in order, as they would over a socket. For tests of the call
 * rules themselves (finals, credit, inbox, cancellation, errors, encoding);
 * what needs processes (isolation, crashes, hangs) is tested against a real
 * server elsewhere.
 *
 *   const h = duplex({ add: { fn: (a, b) => a + b } });
 *   await h.client.call('add', [1, 2]);  // 3
 *   await h.close();
 */
import { clientOver, type RuntimeClient } from '../../runtime/client/client.js';
import type { ClientTransport } from '../../runtime/client/transport.js';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readManifest, type Manifest, type TargetInfo } from '../../runtime/manifest.js';
import { decode } from '../../runtime/wire/codec.js';
import { DEFAULT_MAX_PAYLOAD } from '../../runtime/wire/limits.js';
import { CallEngine } from '../../runtime/worker/engine.js';
import { routeOutput } from '../../runtime/worker/output.js';
import { TargetTable } from '../../runtime/worker/targets.js';

// As in the worker: console.log inside a call becomes that call's LOG (output outside calls is untouched).
let routed = false;

export interface TestTarget {
  fn: (...args: never[]) => unknown;
  shape?: TargetInfo['shape'];
  /** JSON Schema of the argument tuple. */
  args?: unknown;
  returns?: unknown;
  inbox?: unknown;
  inboxIndex?: number;
}

export interface Duplex {
  client: RuntimeClient;
  engine: CallEngine;
  /** Every message the engine sent, decoded, in order (for assertions on the wire). */
  wire: unknown[][];
  /** For each message in `wire`: whether the engine let it wait to leave with others (stream items). */
  gathered: boolean[];
  /** Every message the client sent, decoded, in order. */
  fromClient: unknown[][];
  /** Output written inside calls after they ended. */
  stray: string[];
  /** Makes the engine's transport look full (true) or drained (false). */
  congest(full: boolean): void;
  /** Bytes the transport pretends are waiting (bounds logs). */
  pending: number;
  /** Sends raw bytes to the engine as if the client had. */
  raw(bytes: Uint8Array): void;
  close(): Promise<void>;
}

const CONN = 1;

export interface DuplexOptions {
  maxPayload?: number;
  validateResults?: boolean;
  logPendingLimit?: number;
  defaults?: { timeoutMs?: number };
}

/** Targets written in the test itself. */
export function duplex(targets: Record<string, TestTarget>, opts: DuplexOptions = {}): Duplex {
  const manifest: Manifest = { agentix: 1, modules: { app: 'app.ts' }, targets: {} };
  const exportsOf: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(targets)) {
    manifest.targets[name] = { module: 'app', export: name, shape: t.shape ?? 'unary', params: [], args: t.args, returns: t.returns, inbox: t.inbox, inboxIndex: t.inboxIndex };
    exportsOf[name] = t.fn;
  }
  return wire(new TargetTable({ manifest, load: async () => exportsOf as Record<string, unknown>, validateResults: opts.validateResults }), opts);
}

/** A project with a generated manifest (`<dir>/agentix-gen/manifest.json`), its sources imported in this process. */
export function duplexProject(dir: string, opts: DuplexOptions = {}): Duplex {
  const manifest = readManifest(join(dir, 'agentix-gen', 'manifest.json'));
  const load = (id: string) => import(pathToFileURL(resolve(dir, manifest.modules[id]!)).href) as Promise<Record<string, unknown>>;
  return wire(new TargetTable({ manifest, load, validateResults: opts.validateResults }), opts);
}

function wire(table: TargetTable, opts: DuplexOptions): Duplex {
  if (!routed) {
    routed = true;
    routeOutput();
  }
  let congested = false;
  const drainWaiters: (() => void)[] = [];
  const wire: unknown[][] = [];
  const gathered: boolean[] = [];
  const fromClient: unknown[][] = [];
  const stray: string[] = [];
  let open = true;
  const later = (fn: () => void) => setImmediate(fn);

  const clientSide: ClientTransport = {
    onMessage: () => undefined,
    onClose: () => undefined,
    get open() {
      return open;
    },
    send: (bytes) => {
      if (!open) return;
      const copy = Buffer.from(bytes);
      try {
        fromClient.push(decode(copy) as unknown[]);
      } catch {
        fromClient.push(['undecodable']);
      }
      later(() => open && engine.receive(CONN, copy));
    },
    close: async () => {
      if (!open) return;
      open = false;
      later(() => engine.closeConnection(CONN));
      later(() => clientSide.onClose(1000, ''));
    },
  };
  const h: Duplex = {
    client: undefined as unknown as RuntimeClient,
    engine: undefined as unknown as CallEngine,
    wire,
    gathered,
    fromClient,
    stray,
    pending: 0,
    congest(full) {
      congested = full;
      if (!full) for (const w of drainWaiters.splice(0)) w();
    },
    raw: (bytes) => clientSide.send(bytes),
    close: () => h.client.close(),
  };
  const engine = new CallEngine({
    transport: {
      send: (_conn, bytes, gather) => {
        const copy = Buffer.from(bytes);
        wire.push(decode(copy) as unknown[]);
        gathered.push(gather === true);
        later(() => open && clientSide.onMessage(copy));
      },
      get congested() {
        return congested;
      },
      onceDrained: (fn) => void drainWaiters.push(fn),
      get pendingBytes() {
        return h.pending;
      },
    },
    targets: table,
    maxPayload: opts.maxPayload ?? DEFAULT_MAX_PAYLOAD,
    strayOutput: (_stream, text) => void stray.push(text),
    logPendingLimit: opts.logPendingLimit,
  });
  h.engine = engine;
  h.client = clientOver(clientSide, opts.defaults);
  return h;
}
