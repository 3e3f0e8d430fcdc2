/**
 * The runtime server: HTTP routes and the WebSocket endpoint (http.ts), one
 * Connection per client (connection.ts), and the worker subprocess
 * (worker-supervisor.ts). It routes frames between sockets and the worker by
 * peeking at their head, never decoding arguments or results, and keeps per
 * call only what calls.ts describes: enough to refuse bad frames before they
 * reach the worker, to tell a hung worker from a busy one, and to send calls
 * a dead worker never started to the next one.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { readManifest, type Manifest } from '../manifest.js';
import { encode } from '../wire/codec.js';
import { deadlineAt, fromWireTimeout, isPast } from '../wire/deadline.js';
import { encodeError } from '../wire/error-frame.js';
import { frameworkError } from '../wire/errors.js';
import * as L from '../wire/limits.js';
import * as P from '../wire/protocol.js';
import { dueReason, judge, markStarted, MAX_RESENDS, newCall, retain, type ServerCall } from './calls.js';
import { Connection, PauseReason } from './connection.js';
import { createHttpServer, TokenCheck } from './http.js';
import { ReceiveBudget } from './receive-budget.js';
import { workerFor, type WorkerSupervisor } from './worker-supervisor.js';

export interface ServerOptions {
  /** Directory with manifest.json and modules/ (see docs/manifest.md). */
  runDir: string;
  token: string;
  port?: number;
  host?: string;
  /** Listen on this Unix socket instead of a TCP port (clients connect to `ws+unix://PATH`). */
  socketPath?: string;
  maxPayload?: number;
  /** How long a worker may stay silent while it owes an answer before it is judged hung and restarted. */
  hangGraceMs?: number;
  /** How long the first worker may take to import the project (default 60 s). */
  workerStartTimeoutMs?: number;
  /** How long shutdown waits for in-flight calls. */
  shutdownGraceMs?: number;
  /** Bytes queued towards one client before it counts as not reading (default 8 MiB). */
  sendQueueBytes?: number;
  /** How long a client may make no progress reading before it is disconnected (default 30 s). */
  stuckClientMs?: number;
  /** How long a TCP connection may take to send its HTTP request (default 10 s). */
  requestTimeoutMs?: number;
  /** Working directory and extra environment of the worker (user code). */
  cwd?: string;
  env?: Record<string, string | undefined>;
}

const VERSION = '0.1.0';

export class RuntimeServer {
  readonly manifest: Manifest;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly worker: WorkerSupervisor;
  private readonly conns = new Map<number, Connection>();
  /** Calls whose client is gone but whose worker side has not finished yet. */
  private readonly orphans = new Map<number, ServerCall>();
  private readonly budget: ReceiveBudget;
  private nextConn = 1;
  private closing = false;
  private pipeFull = false;
  private readonly maxPayload: number;
  private readonly hangGraceMs: number;
  private readonly startedAt = Date.now();
  /** The target of the last CALL, as a name and as the bytes it travels as (see targetName). */
  private lastTarget: { name: string; bytes: Uint8Array } | undefined;

  constructor(private readonly opts: ServerOptions) {
    const token = new TokenCheck(opts.token);
    this.maxPayload = opts.maxPayload ?? L.DEFAULT_MAX_PAYLOAD;
    this.hangGraceMs = opts.hangGraceMs ?? L.DEFAULT_HANG_GRACE_MS;
    this.manifest = readManifest(join(opts.runDir, 'manifest.json'));
    this.budget = new ReceiveBudget(L.receiveBudget(this.maxPayload));
    // Already running if main.ts started it before loading this module (and ws, msgpackr with it).
    this.worker = workerFor(opts);
    this.worker.on('frame', (conn, message) => this.fromWorker(conn, message));
    this.worker.on('exit', (why, generation) => this.onWorkerExit(why, generation));
    this.worker.on('output', (stream, text) => this.broadcastLog(stream, text));
    this.worker.on('drain', () => this.setPipeFull(false));
    this.worker.on('tick', () => this.onTick());

    // Frames over our limit still arrive whole up to twice the limit, so the caller gets PAYLOAD_TOO_LARGE
    // for that call; beyond that ws closes the socket (1009). The receive budget bounds them all together.
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: this.maxPayload * 2 + 1024 });
    this.http = createHttpServer(token, {
      health: () => {
        const ok = this.worker.ready && !this.closing;
        return { ok, body: { ok, worker: this.worker.ready ? 'ready' : 'starting', version: VERSION, uptimeMs: Date.now() - this.startedAt, connections: this.conns.size } };
      },
      manifest: () => this.manifest,
      closing: () => this.closing,
      upgrade: (req, socket, head) => this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws)),
    }, opts.requestTimeoutMs);
  }

  /** Starts the worker and listens; resolves with the bound address once both are ready. */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    const startMs = this.opts.workerStartTimeoutMs ?? L.DEFAULT_WORKER_START_MS;
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      // An early worker (main.ts) may have got this far before we listened for it.
      if (this.worker.ready) return resolve();
      if (this.worker.broken) return reject(new Error(this.worker.broken));
      this.worker.once('ready', resolve);
      this.worker.once('broken', (why) => reject(new Error(why)));
      timer = setTimeout(() => reject(new Error(`the worker was not ready within ${startMs} ms (a module that never finishes loading?)`)), startMs);
    }).finally(() => clearTimeout(timer));
    ready.catch(() => undefined);
    if (!this.worker.launched) this.worker.start();
    try {
      await new Promise<void>((resolve, reject) => {
        this.http.once('error', reject);
        if (this.opts.socketPath) {
          removeStaleSocket(this.opts.socketPath);
          // Any local user may connect (the token authenticates, not the file mode): the host
          // process that calls a sandbox without network is rarely the container's uid.
          const path = this.opts.socketPath;
          this.http.listen(path, () => (chmodSync(path, 0o666), resolve()));
        }
        else this.http.listen(this.opts.port ?? L.DEFAULT_PORT, this.opts.host ?? '0.0.0.0', () => resolve());
      });
      await ready;
    } catch (err) {
      await this.worker.stop();
      if (this.http.listening) await new Promise<void>((resolve) => this.http.close(() => resolve()));
      throw err;
    }
    // After start-up, a worker that keeps dying before it is ready fails what waits for it.
    this.worker.on('broken', (why) => this.failQueued(frameworkError('WORKER_EXITED', why)));
    if (this.opts.socketPath) return { host: '', port: 0, url: `ws+unix://${this.opts.socketPath}` };
    const addr = this.http.address() as AddressInfo;
    const host = this.opts.host && this.opts.host !== '0.0.0.0' ? this.opts.host : '127.0.0.1';
    return { host, port: addr.port, url: `ws://${host.includes(':') ? `[${host}]` : host}:${addr.port}` };
  }

  /** Last resort when this process is exiting: the worker must not outlive it. */
  killWorkerNow(): void {
    this.worker.killNow();
  }

  get workerPid(): number | undefined {
    return this.worker.pid;
  }

  /**
   * Graceful shutdown: refuse new calls, tell every client goodbye, give
   * in-flight calls `shutdownGraceMs` to finish, fail the rest with
   * UNAVAILABLE, close sockets (1001), stop the worker.
   */
  async close(reason = 'server shutting down'): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const bye = encode([P.GOODBYE, 0, reason]);
    for (const conn of this.conns.values()) conn.send(bye);
    const deadline = Date.now() + (this.opts.shutdownGraceMs ?? L.DEFAULT_SHUTDOWN_GRACE_MS);
    while (this.inFlight() > 0 && Date.now() < deadline) await sleep(20);
    for (const conn of this.conns.values()) {
      for (const call of [...conn.calls.values()]) this.answer(call, frameworkError('UNAVAILABLE', `${reason}: the call did not finish within the shutdown grace`));
      conn.close(1001, reason);
    }
    await this.worker.stop();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private inFlight(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.calls.size;
    return n;
  }

  // ---- connections ------------------------------------------------------------

  private onConnection(ws: WebSocket): void {
    let id = this.nextConn++;
    if (this.nextConn > 0xffff_fff0) this.nextConn = 1;
    while (this.conns.has(id)) id = this.nextConn++;
    const conn = new Connection(id, ws, {
      sendQueueBytes: this.opts.sendQueueBytes ?? L.DEFAULT_SEND_QUEUE_BYTES,
      stuckClientMs: this.opts.stuckClientMs ?? L.DEFAULT_STUCK_CLIENT_MS,
    }, {
      congestion: (c, congested) => void this.worker.send(c.id, encode([congested ? P.W_PAUSE : P.W_RESUME, 0])),
    });
    this.conns.set(id, conn);
    if (this.pipeFull) conn.pauseReading(PauseReason.Pipe);
    const member = { ws, pause: () => conn.pauseReading(PauseReason.Budget), resume: () => conn.resumeReading(PauseReason.Budget) };
    ws.on('message', (data, isBinary) => this.fromClient(conn, data as Buffer, isBinary));
    // After ws's own listener has taken the chunk: how much of an incomplete message it now holds.
    (ws as unknown as { _socket?: NodeJS.EventEmitter })._socket?.on('data', () => this.budget.update(member));
    ws.on('close', () => {
      this.budget.remove(member);
      this.onClose(conn);
    });
    ws.on('error', () => undefined); // 'close' follows and cleans up
  }

  private fromClient(conn: Connection, data: Buffer, isBinary: boolean): void {
    const head = isBinary ? P.peekHead(data) : undefined;
    // Errors about a frame rather than a call carry id 0: a call's id is reserved for its one final message.
    if (!head || !P.CLIENT_TYPES.has(head.type)) {
      const what = !isBinary ? 'text frames are not accepted; send msgpack in binary frames' : head ? `unknown message type ${head.type} (call_id ${head.id})` : 'a message must be a msgpack array [type, call_id, ...]';
      return this.protocolError(conn, what);
    }
    if (!P.isCallId(head.id)) return this.protocolError(conn, `call_id must be an integer from 1 to 2^32-1, got ${head.id} (message type ${head.type})`);
    const call = conn.calls.get(head.id);
    if (head.type === P.CALL) return this.onCall(conn, head, data, call);
    if (!call) return; // cancel / credit / inbox for a finished call: normal races, nothing to do
    if (data.length > this.maxPayload) {
      // An oversized inbox item ends its call; the worker sends the final, so the id stays reserved until then.
      return this.toWorker(conn, encode([P.W_FAIL, head.id, frameworkError('PAYLOAD_TOO_LARGE', `message of ${data.length} bytes exceeds the limit of ${this.maxPayload} bytes; the call is ended`)]));
    }
    if (head.type === P.CANCEL) {
      call.cancelled = true;
      // Never written to a worker: nobody else will answer it.
      if (call.generation === 0) return this.answerQueued(call, frameworkError('CANCELLED', `${call.target} was cancelled by the caller`));
    } else if (!call.started) retain(call, data);
    this.toWorker(conn, data);
  }

  private onCall(conn: Connection, head: P.Head, data: Buffer, existing: ServerCall | undefined): void {
    const id = head.id;
    if (existing) return this.protocolError(conn, `call_id ${id} is already in flight on this connection; the new CALL was ignored`);
    if (data.length > this.maxPayload) return this.refuse(conn, id, 'PAYLOAD_TOO_LARGE', `message of ${data.length} bytes exceeds the limit of ${this.maxPayload} bytes`);
    if (this.closing) return this.refuse(conn, id, 'UNAVAILABLE', 'server shutting down');
    const fields = P.peekCall(data, head);
    const timeoutMs = fields ? fromWireTimeout(fields.timeoutMs) : undefined;
    if (!fields || timeoutMs === undefined) return this.refuse(conn, id, 'PROTOCOL', 'CALL must be [1, call_id, timeoutMs: number >= 0, target: string, args: array, options?: map | nil]');
    const target = this.targetName(data, fields.target.start, fields.target.end);
    if (target === undefined) {
      const name = data.toString('utf8', fields.target.start, fields.target.end);
      return this.refuse(conn, id, 'NOT_FOUND', `no function "${name}" in the manifest`, { target: name });
    }
    const call = newCall(conn.id, id, target, deadlineAt(timeoutMs), data);
    if (!this.worker.send(conn.id, data, call)) return this.refuse(conn, id, 'UNAVAILABLE', 'the worker is restarting and its queue is full; retry');
    conn.calls.set(id, call);
    if (this.worker.congested) this.setPipeFull(true);
  }

  /** A CALL refused by the server itself (it never reaches the worker). */
  private refuse(conn: Connection, id: number, code: P.ErrorCode, message: string, extra?: Record<string, unknown>): void {
    conn.send(encodeError(id, frameworkError(code, message, extra), this.maxPayload));
  }

  /** The target a CALL names (bytes start..end of `data`), if the manifest has it. */
  private targetName(data: Buffer, start: number, end: number): string | undefined {
    // Calls mostly name the target the one before named: its bytes are compared with that name's
    // instead of being decoded into a new string (a call into the runtime per CALL) and looked up.
    const last = this.lastTarget;
    if (last && last.bytes.length === end - start && sameBytes(data, start, last.bytes)) return last.name;
    const name = data.toString('utf8', start, end);
    if (!Object.hasOwn(this.manifest.targets, name)) return undefined;
    this.lastTarget = { name, bytes: Buffer.from(name, 'utf8') };
    return name;
  }

  private toWorker(conn: Connection, data: Uint8Array): void {
    this.worker.send(conn.id, data);
    if (this.worker.congested) this.setPipeFull(true);
  }

  /** While the pipe to the worker is full, stop reading from every socket (TCP pushes back on the clients). */
  private setPipeFull(full: boolean): void {
    if (this.pipeFull === full) return;
    this.pipeFull = full;
    for (const c of this.conns.values()) full ? c.pauseReading(PauseReason.Pipe) : c.resumeReading(PauseReason.Pipe);
  }

  private onClose(conn: Connection): void {
    conn.dispose();
    this.conns.delete(conn.id);
    if (conn.calls.size > 0) {
      // The worker cancels this connection's calls; each stays here until its final confirms it, so a hung worker is still caught.
      for (const call of conn.calls.values()) {
        if (call.generation === 0) {
          this.dropQueued(call);
          continue;
        }
        call.orphan = true;
        this.orphans.set(key(conn.id, call.id), call);
      }
      conn.calls.clear();
    }
    this.worker.send(conn.id, encode([P.W_CLOSED, 0]));
  }

  private protocolError(conn: Connection, message: string): void {
    conn.send(encodeError(0, frameworkError('PROTOCOL', message), this.maxPayload));
    if (++conn.protocolErrors >= L.MAX_PROTOCOL_ERRORS) conn.close(1002, 'too many protocol errors');
  }

  // ---- the worker ------------------------------------------------------------------

  private fromWorker(connId: number, message: Buffer): void {
    const head = P.peekHead(message);
    if (!head) return;
    const conn = this.conns.get(connId);
    if (head.id !== 0) {
      const call = conn?.calls.get(head.id) ?? this.orphans.get(key(connId, head.id));
      if (call) {
        if (!call.started) markStarted(call);
        if (P.isFinal(head.type)) this.retire(call);
      }
    }
    if (conn) conn.send(message, head.type === P.LOG);
  }

  /** The call is over on both sides: forget it. */
  private retire(call: ServerCall): void {
    if (call.orphan) this.orphans.delete(key(call.connId, call.id));
    else this.conns.get(call.connId)?.calls.delete(call.id);
  }

  /** Ends a call on the worker's behalf (only when no worker will: see calls.ts). */
  private answer(call: ServerCall, error: P.ErrorData): void {
    this.retire(call);
    if (!call.orphan) this.conns.get(call.connId)?.send(encodeError(call.id, error, this.maxPayload));
  }

  private answerQueued(call: ServerCall, error: P.ErrorData): void {
    this.dropQueued(call);
    this.answer(call, error);
  }

  /** Removes a call's frames from the queue for a worker that is starting (it was never written). */
  private dropQueued(call: ServerCall): void {
    this.worker.dropQueued((connId, message, dispatch) => dispatch === call || (connId === call.connId && P.peekHead(message)?.id === call.id));
  }

  private failQueued(error: P.ErrorData): void {
    for (const call of this.allCalls()) if (call.generation === 0) this.answerQueued(call, error);
  }

  private *allCalls(): Iterable<ServerCall> {
    for (const c of this.conns.values()) yield* c.calls.values();
    yield* this.orphans.values();
  }

  private startedOnWorker = (call: ServerCall): boolean | undefined => call.started || this.worker.started(call.seq);

  /** Every heartbeat: fail queued calls past their deadline, judge a silent worker, drop frames kept for calls known started. */
  private onTick(): void {
    const now = Date.now();
    for (const call of [...this.allCalls()]) {
      if (call.generation === 0) {
        if (isPast(call.at, now)) this.answerQueued(call, frameworkError('DEADLINE_EXCEEDED', 'the call exceeded its deadline before a worker could take it'));
      } else if (call.retained && this.worker.started(call.seq)) markStarted(call);
    }
    if (!this.worker.ready) return;
    const verdict = judge(this.allCalls(), this.worker.generation, this.worker.silentForMs(now), this.hangGraceMs, this.startedOnWorker, now, this.worker.frameworkWork());
    if (verdict.kill) this.worker.kill(`${verdict.reason}; it was killed`);
  }

  /**
   * A worker died (or was killed). Calls it started fail with it: WORKER_EXITED,
   * or the code they were due with. Calls it never started are sent to the
   * next worker, unless they are due or were sent too often already.
   */
  private onWorkerExit(description: string, generation: number): void {
    // Its full pipe is gone with it: nothing will say 'drain', and the next worker starts empty.
    this.setPipeFull(false);
    const now = Date.now();
    const mine = [...this.allCalls()].filter((c) => c.generation === generation).sort((a, b) => a.seq - b.seq);
    for (const call of mine) {
      const started = this.startedOnWorker(call) ?? true;
      const due = dueReason(call, now);
      if (!started && !due && call.retained && call.resends < MAX_RESENDS) {
        call.resends++;
        const [frame, ...extras] = call.retained;
        call.seq = 0;
        call.generation = 0;
        if (this.worker.send(call.connId, frame!, call)) {
          for (const f of extras) this.worker.send(call.connId, f);
          continue;
        }
      }
      if (due === 'gone') this.retire(call);
      else if (due === 'deadline') this.answer(call, frameworkError('DEADLINE_EXCEEDED', `the call exceeded its deadline; ${description}`));
      else if (due === 'cancel') this.answer(call, frameworkError('CANCELLED', `the call was cancelled; ${description}`));
      else this.answer(call, frameworkError('WORKER_EXITED', `${description} while the call was ${started ? 'running' : 'waiting'}; a new worker is starting`));
    }
  }

  private broadcastLog(stream: 'stdout' | 'stderr', text: string): void {
    if (this.conns.size === 0) return;
    const bytes = encode([P.LOG, 0, stream, text]);
    for (const conn of this.conns.values()) conn.send(bytes, true);
  }
}

/** A socket file left by a server that died would make listen fail with EADDRINUSE; anything else at the path is left alone (and listen reports it). */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // nothing there
  }
}

export function randomToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Whether `data` holds the bytes of `bytes` from `start` on. */
function sameBytes(data: Uint8Array, start: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (data[start + i] !== bytes[i]) return false;
  return true;
}

const key = (conn: number, id: number) => conn * 0x1_0000_0000 + id;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

