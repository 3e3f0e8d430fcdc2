/**
 * The worker subprocess: `node worker/main.js <runDir>`, started by the
 * server (server/worker-supervisor.ts). It owns its file descriptors and
 * wires the call engine to them:
 *   fd 1, 2   the user's stdout / stderr (output outside any call)
 *   fd 3      the frame pipe to the server (wire/framing.ts)
 *   fd 4      the progress ring (wire/progress.ts), if the server made one
 * A timer sends the heartbeat (W_ALIVE) whenever the event loop turns, which
 * it does between slices of work (inbound.ts); the server's pause, resume and
 * closed notices for a connection take effect as soon as they are read.
 */
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readManifest } from '../manifest.js';
import { encode } from '../wire/codec.js';
import { FrameReader, FrameWriter } from '../wire/framing.js';
import { DEFAULT_MAX_PAYLOAD, WORKER_PENDING_BYTES, WORKER_SLICE_MS } from '../wire/limits.js';
import { CALL, peekCall, peekHead, W_ALIVE, W_CLOSED, W_PAUSE, W_READY, W_RESUME } from '../wire/protocol.js';
import { PROGRESS_FD, ProgressWriter } from '../wire/progress.js';
import { cpuIdle } from './cpu-idle.js';
import { CallEngine } from './engine.js';
import { InboundQueue } from './inbound.js';
import { routeOutput } from './output.js';
import { modulesBeforeReady, TargetTable } from './targets.js';

const runDir = process.argv[2];
if (!runDir) {
  process.stderr.write('usage: worker/main <runDir>\n');
  process.exit(2);
}
const maxPayload = Number(process.env.AGENTIX_MAX_PAYLOAD ?? DEFAULT_MAX_PAYLOAD);
/** When the plugins' targets are warmed at the latest if no call came (see the warm-up below). */
const PLUGIN_WARM_MS = 1_000;
/** How long the plugins' warm-up waits at most for the machine's CPUs to be idle (see the warm-up below). */
const PLUGIN_IDLE_WAIT_MS = 10_000;

// Stack traces of user code point at its TypeScript sources (the run dir carries inline source maps).
process.setSourceMapsEnabled(true);

const pipe = new Socket({ fd: 3, readable: true, writable: true });
/**
 * Results leave in writes of at most this many, not all of one read's calls at once: with 64 calls in
 * flight the client (on another CPU) then starts on the first answers while this worker still runs the
 * rest, where one write of all 64 made the two sides take turns. Measured A/B (calls/s with 64 in
 * flight, docs/benchmarks.md): +20% with the client on another CPU, within the noise on the same one
 * (fewer per write cost more there: each write is one more wake-up of the server).
 */
const WORKER_RESULTS_PER_WRITE = 48;
const out = new FrameWriter(pipe, 'now', WORKER_RESULTS_PER_WRITE);

// User code may end the process with process.exit: what it produced just before still reaches the caller.
process.on('exit', () => out.flushSync(3));
// The server is our lifeline: when the pipe closes, nobody can hear us any more.
pipe.on('close', () => process.exit(0));
pipe.on('error', () => process.exit(0));

const progress = new ProgressWriter(hasFd(PROGRESS_FD) ? PROGRESS_FD : -1);
const writers = routeOutput();
const targets = new TargetTable({
  manifest: readManifest(join(runDir, 'manifest.json')),
  load: (id) => import(pathToFileURL(join(runDir, 'modules', `${id}.js`)).href) as Promise<Record<string, unknown>>,
  validateResults: process.env.AGENTIX_VALIDATE_RESULTS === '1',
});
const engine = new CallEngine({
  transport: {
    send: (conn, message, gather) => out.write(conn, message, undefined, gather ? 'turn' : 'now'),
    // Full: the pipe said so, or a turn of the event loop has gathered enough that producers should let it flush.
    get congested() {
      return out.congested || out.bytesPending >= WORKER_PENDING_BYTES;
    },
    onceDrained: (fn) => (out.congested ? pipe.once('drain', fn) : setImmediate(fn)),
    get pendingBytes() {
      return out.bytesPending + pipe.writableLength;
    },
    flushNow: () => out.flush(),
  },
  targets,
  maxPayload,
  onStart: (seq) => progress.started(seq),
  onFrameworkWork: (seq, on) => progress.frameworkWork(seq, on),
  strayOutput: (stream, text) => writers[stream](text),
});

const inbound = new InboundQueue({
  handle: (f) => {
    try {
      engine.receive(f.conn, f.message, f.seq, f.at);
    } catch (err) {
      // A bug of ours for one message must not end every call in flight.
      writers.stderr(`agentix worker: failed to handle a message: ${(err as Error)?.stack ?? String(err)}\n`);
    }
  },
  gate: (f) => {
    if (targets.allReady) return undefined;
    const head = peekHead(f.message);
    const call = head?.type === CALL ? peekCall(f.message, head) : undefined;
    if (!call) return undefined;
    const target = f.message.toString('utf8', call.target.start, call.target.end);
    if (!targets.info(target) || targets.ready(target)) return undefined;
    return targets.prepare(target).then(() => undefined, () => undefined);
  },
  blocked: () => {
    if (out.congested) return true; // resumed by the pipe's 'drain'
    if (out.bytesPending < WORKER_PENDING_BYTES) return false;
    setImmediate(() => inbound.resume()); // after the flush that is already scheduled
    return true;
  },
  // The handled mark is written once per turn of the event loop, after that turn's output has left (so a
  // call counted as started has had its answer sent, if it had one): one pwrite per turn, not per call.
  afterSlice: (handled) => {
    markPending = handled;
    if (!markScheduled) {
      markScheduled = true;
      setImmediate(writeMark);
    }
  },
  pauseInput: () => pipe.pause(),
  resumeInput: () => pipe.resume(),
  sliceMs: WORKER_SLICE_MS,
});

pipe.on('drain', () => inbound.resume());

let markPending = 0;
let markScheduled = false;
function writeMark(): void {
  markScheduled = false;
  out.flush();
  if (!pluginsWarming && engine.size === 0) warmPlugins(); // every call so far has answered
  // With no call left running, every handled call has sent its final: the mark would tell the server
  // nothing it does not know (and the next slice's mark covers these calls if one is still running then).
  if (engine.size > 0) progress.handledUpTo(markPending);
}

const reader = new FrameReader(maxPayload + 64, (conn, message, seq, at) => {
  const head = peekHead(message);
  switch (head?.type) {
    case W_PAUSE:
      inbound.defer(conn);
      return engine.pause(conn);
    case W_RESUME:
      engine.resume(conn);
      return inbound.undefer(conn);
    case W_CLOSED:
      // Calls of the connection that never started still get their one final (CANCELLED).
      for (const f of inbound.take(conn)) engine.refuse(f.conn, f.message, 'the connection closed before the call started');
      return engine.closeConnection(conn);
    default:
      inbound.push({ conn, message, seq, at });
  }
});
pipe.on('data', (chunk: Buffer) => {
  try {
    reader.push(chunk);
  } catch (err) {
    writers.stderr(`agentix worker: broken pipe framing (${(err as Error).message}); exiting\n`);
    process.exit(70);
  }
});

// Warm every target (module imported, validators compiled) while the worker is idle, one per turn of the
// event loop, so the first call of a target rarely waits for it; a call that comes first simply prepares
// it itself. The project's own targets right after READY; the plugins' (whose modules load here) once the
// worker has answered its first call, or PLUGIN_WARM_MS after READY: a host's first call must not queue
// behind plugin code it may never use. And then only once no task on the machine waits for a CPU
// (cpu-idle.ts), at the latest PLUGIN_IDLE_WAIT_MS later: in a wave of sandboxes starting together, the
// first ones up would otherwise spend their warm-up's CPU while the others still start. (Declared before
// the first await: writeMark may call warmPlugins.)
const early = modulesBeforeReady(targets.manifest);
const all = Object.entries(targets.manifest.targets);
const own = all.filter(([, t]) => early.includes(t.module)).map(([name]) => name);
const theirs = all.filter(([, t]) => !early.includes(t.module)).map(([name]) => name);
const warm = (names: string[], i: number): void => {
  if (i >= names.length) return;
  void targets.prepare(names[i]!).catch(() => undefined).finally(() => setImmediate(warm, names, i + 1));
};
let pluginsWarming = false;
let pluginTimer: NodeJS.Timeout | undefined;
function warmPlugins(): void {
  if (pluginsWarming) return;
  pluginsWarming = true;
  clearTimeout(pluginTimer);
  void cpuIdle({ maxWaitMs: PLUGIN_IDLE_WAIT_MS }).then(() => setImmediate(warm, theirs, 0));
}

await targets.preload(early);
out.write(0, encode([W_READY, 0]));
setImmediate(warm, own, 0);
pluginTimer = setTimeout(warmPlugins, PLUGIN_WARM_MS);

// The heartbeat: a timer, so it beats whenever the event loop turns — between slices of work, also while
// the pipe is paused — and stops only while one piece of synchronous code runs (server/calls.ts: judge).
const alive = encode([W_ALIVE, 0]);
setInterval(() => out.write(0, alive), Number(process.env.AGENTIX_HEARTBEAT_MS) || 250).unref();

function hasFd(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}
