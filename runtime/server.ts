/**
 * The runtime server: one HTTP server with `/health`, the WebSocket endpoint
 * and its worker subprocess. It routes frames between sockets and the worker
 * by peeking at their head (`[type, call_id`), never decoding arguments or
 * results, and keeps just enough per-call state to fail calls cleanly when the
 * worker dies, hangs past a deadline, or the server shuts down.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { encode } from './codec.js';
import { corkForTick } from './cork.js';
import { errorData } from './errors.js';
import { readManifest, type Manifest } from './manifest.js';
import * as P from './protocol.js';
import { WorkerProcess } from './worker-process.js';

export interface ServerOptions {
  /** Directory with manifest.json and modules/ (see docs/manifest.md). */
  runDir: string;
  token: string;
  port?: number;
  host?: string;
  maxPayload?: number;
  /** How long a worker may stay silent past a deadline or cancel before it is judged hung and restarted. */
  hangGraceMs?: number;
  /** How long the first worker may take to import the project (default 60 s). */
  workerStartTimeoutMs?: number;
  /** How long shutdown waits for in-flight calls. */
  shutdownGraceMs?: number;
  /** Working directory and extra environment of the worker (user code). */
  cwd?: string;
  env?: Record<string, string | undefined>;
}

interface InFlight {
  conn: number;
  id: number;
  /** The worker generation the call was sent to (see WorkerProcess.generation). */
  generation: number;
  /** Set when the worker owes a final message soon (deadline passed, cancelled, connection gone). */
  watchdog?: NodeJS.Timeout;
  deadline?: NodeJS.Timeout;
}

interface Connection {
  id: number;
  ws: WebSocket;
  calls: Map<number, InFlight>;
  protocolErrors: number;
}

const MAX_PROTOCOL_ERRORS = 100;
/** Bytes queued towards one client beyond which its log lines are dropped. */
const LOG_HIGH_WATER = 8 * 1024 * 1024;
const VERSION = '0.1.0';

export class RuntimeServer {
  readonly manifest: Manifest;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly worker: WorkerProcess;
  private readonly conns = new Map<number, Connection>();
  /** Calls whose connection is gone but whose worker side has not finished yet. */
  private readonly orphans = new Map<string, InFlight>();
  private nextConn = 1;
  private closing = false;
  private readsPaused = false;
  private readonly tokenBytes: Buffer;
  private readonly maxPayload: number;
  private readonly hangGraceMs: number;
  private readonly startedAt = Date.now();

  constructor(private readonly opts: ServerOptions) {
    if (!opts.token) throw new Error('a token is required (AGENTIX_TOKEN or --token)');
    this.tokenBytes = Buffer.from(opts.token);
    this.maxPayload = opts.maxPayload ?? P.DEFAULT_MAX_PAYLOAD;
    this.hangGraceMs = opts.hangGraceMs ?? 1000;
    this.manifest = readManifest(join(opts.runDir, 'manifest.json'));
    this.worker = new WorkerProcess({
      runDir: opts.runDir,
      maxPayload: this.maxPayload,
      cwd: opts.cwd,
      env: { ...opts.env, AGENTIX_MAX_PAYLOAD: String(this.maxPayload) },
    });
    this.worker.on('frame', (conn, message) => this.fromWorker(conn, message));
    this.worker.on('exit', (why, generation) => this.onWorkerExit(why, generation));
    this.worker.on('output', (stream, text) => this.broadcast([P.LOG, 0, stream, text]));
    this.worker.on('drain', () => this.resumeReads());

    this.http = createServer((req, res) => this.onHttp(req, res));
    // Frames over our limit still arrive whole up to twice the limit, so the caller gets PAYLOAD_TOO_LARGE
    // for that call; beyond that ws closes the socket (1009) rather than buffer without bound.
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: this.maxPayload * 2 + 1024 });
    this.http.on('upgrade', (req, socket, head) => {
      // http removes its own error listener from an upgraded socket: a client that resets it mid-reply must not crash us.
      socket.on('error', () => socket.destroy());
      if (this.closing) return void socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      if (!this.authorized(req)) {
        const body = JSON.stringify({ code: 'UNAUTHENTICATED', message: 'missing or wrong token' });
        socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    });
  }

  /** Starts the worker and listens; resolves with the bound address once both are ready. */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    const startMs = this.opts.workerStartTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      this.worker.once('ready', resolve);
      this.worker.once('broken', (why) => reject(new Error(why)));
      timer = setTimeout(() => reject(new Error(`the worker was not ready within ${startMs} ms (a module that never finishes loading?)`)), startMs);
    }).finally(() => clearTimeout(timer));
    ready.catch(() => undefined);
    this.worker.start();
    try {
      await new Promise<void>((resolve, reject) => {
        this.http.once('error', reject);
        this.http.listen(this.opts.port ?? P.DEFAULT_PORT, this.opts.host ?? '0.0.0.0', () => resolve());
      });
      await ready;
    } catch (err) {
      await this.worker.stop();
      if (this.http.listening) await new Promise<void>((resolve) => this.http.close(() => resolve()));
      throw err;
    }
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
   * UNAVAILABLE, close sockets, stop the worker.
   */
  async close(reason = 'server shutting down'): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.broadcast([P.GOODBYE, 0, reason]);
    const deadline = Date.now() + (this.opts.shutdownGraceMs ?? 5000);
    while (this.inFlightCount() > 0 && Date.now() < deadline) await sleep(20);
    for (const conn of this.conns.values()) {
      for (const call of [...conn.calls.values()]) this.failCall(conn, call, errorData('UNAVAILABLE', `${reason}: the call did not finish in time`));
      // A close reason may hold 123 bytes at most.
      conn.ws.close(1001, Buffer.from(reason).subarray(0, 120).toString());
    }
    await this.worker.stop();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private inFlightCount(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.calls.size;
    return n;
  }

  // ---- HTTP ---------------------------------------------------------------

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (path === '/health') {
      return json(this.worker.ready && !this.closing ? 200 : 503, {
        ok: this.worker.ready && !this.closing,
        worker: this.worker.ready ? 'ready' : 'starting',
        version: VERSION,
        uptimeMs: Date.now() - this.startedAt,
        connections: this.conns.size,
      });
    }
    if (!this.authorized(req)) return json(401, { code: 'UNAUTHENTICATED', message: 'missing or wrong token' });
    if (path === '/manifest') return json(200, this.manifest);
    json(404, { code: 'NOT_FOUND', message: `no route ${path}` });
  }

  private authorized(req: IncomingMessage): boolean {
    let given: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) given = auth.slice(7);
    else {
      const q = (req.url ?? '').split('?')[1];
      if (q) given = new URLSearchParams(q).get('token') ?? undefined;
    }
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === this.tokenBytes.length && timingSafeEqual(b, this.tokenBytes);
  }

  // ---- WebSocket ------------------------------------------------------------

  private onConnection(ws: WebSocket): void {
    let id = this.nextConn++;
    if (this.nextConn > 0xffff_fff0) this.nextConn = 1;
    while (this.conns.has(id)) id = this.nextConn++;
    const conn: Connection = { id, ws, calls: new Map(), protocolErrors: 0 };
    this.conns.set(id, conn);
    if (this.readsPaused) ws.pause();
    ws.on('message', (data, isBinary) => this.fromClient(conn, data as Buffer, isBinary));
    ws.on('close', () => this.onClose(conn));
    ws.on('error', () => undefined); // 'close' follows and cleans up
  }

  private fromClient(conn: Connection, data: Buffer, isBinary: boolean): void {
    const head = isBinary ? P.peekHead(data) : undefined;
    // Errors about a frame rather than a call carry id 0: a call's id is reserved for its one final message.
    if (!head || !P.MESSAGE_TYPES.has(head.type)) {
      const what = !isBinary ? 'text frames are not accepted; send msgpack in binary frames' : head ? `unknown message type ${head.type} (call_id ${head.id})` : 'a message must be a msgpack array [type, call_id, ...]';
      return this.protocolError(conn, what);
    }
    const call = conn.calls.get(head.id);
    if (data.length > this.maxPayload) {
      const err = errorData('PAYLOAD_TOO_LARGE', `message of ${data.length} bytes exceeds the limit of ${this.maxPayload} bytes`);
      if (head.type === P.CALL && !call) return this.sendTo(conn, [P.ERROR, head.id, err]);
      if (!call) return;
      // An oversized inbox item ends its call: the caller hears it now, the worker cancels the function.
      this.failCall(conn, call, err);
      this.worker.send(conn.id, encode([P.CANCEL, head.id]));
      return;
    }
    if (head.type === P.CALL) {
      if (call) return this.protocolError(conn, `call_id ${head.id} is already in flight on this connection; the new CALL was ignored`);
      if (this.closing) return this.sendTo(conn, [P.ERROR, head.id, errorData('UNAVAILABLE', 'server shutting down')]);
      const timeoutMs = P.peekTimeout(data, head.next);
      if (timeoutMs === undefined) return this.sendTo(conn, [P.ERROR, head.id, errorData('PROTOCOL', 'CALL must be [1, call_id, timeoutMs, target, args, options?]')]);
      if (!this.worker.send(conn.id, data)) {
        return this.sendTo(conn, [P.ERROR, head.id, errorData('UNAVAILABLE', 'the worker is restarting and its queue is full; retry')]);
      }
      const inflight: InFlight = { conn: conn.id, id: head.id, generation: this.worker.generation };
      if (timeoutMs > 0) inflight.deadline = setTimeout(() => this.onDeadline(inflight), Math.min(timeoutMs, P.MAX_TIMER_MS));
      conn.calls.set(head.id, inflight);
      this.applyBackpressure();
      return;
    }
    if (!call) return; // cancel / credit / inbox for a finished call: normal races, nothing to do
    this.worker.send(conn.id, data);
    this.applyBackpressure();
    if (head.type === P.CANCEL && this.worker.ready) this.watch(call, 'CANCELLED');
  }

  /**
   * While the pipe to the worker is full, stop reading from every socket
   * (TCP pushes back on the clients) instead of queueing without bound.
   */
  private applyBackpressure(): void {
    if (!this.worker.congested || this.readsPaused) return;
    this.readsPaused = true;
    for (const c of this.conns.values()) c.ws.pause();
  }

  private resumeReads(): void {
    if (!this.readsPaused) return;
    this.readsPaused = false;
    for (const c of this.conns.values()) c.ws.resume();
  }

  /**
   * A call's deadline passed on the server. A live worker cancels it itself
   * and answers at once; the watchdog catches one that cannot. A call still
   * queued for a worker that is starting is failed here and never delivered.
   */
  private onDeadline(call: InFlight): void {
    if (this.worker.ready && call.generation === this.worker.generation) return this.watch(call, 'DEADLINE_EXCEEDED');
    const conn = this.conns.get(call.conn);
    this.worker.dropQueued(call.conn, call.id);
    if (conn?.calls.get(call.id) === call) this.failCall(conn, call, errorData('DEADLINE_EXCEEDED', 'the call exceeded its deadline before a worker could take it'));
  }

  private fromWorker(connId: number, message: Buffer): void {
    const head = P.peekHead(message);
    if (!head) return;
    const conn = this.conns.get(connId);
    if (P.isFinal(head.type) && head.id !== 0) {
      const call = conn?.calls.get(head.id);
      if (call) {
        this.forget(call);
        conn!.calls.delete(head.id);
      } else {
        const key = `${connId}:${head.id}`;
        const orphan = this.orphans.get(key);
        if (orphan) this.forget(orphan), this.orphans.delete(key);
        // The server already ended this call (deadline, payload limit): its caller has had its one final message.
        return;
      }
    }
    // Output is not bound by stream credit; past a high-water mark towards a slow client it is dropped, not queued.
    if (head.type === P.LOG && conn && conn.ws.bufferedAmount > LOG_HIGH_WATER) return;
    if (conn && conn.ws.readyState === conn.ws.OPEN) {
      corkForTick(conn.ws);
      conn.ws.send(message, { binary: true });
    }
  }

  /**
   * The worker owes a final message for `call` now (its deadline passed, it
   * was cancelled, or its caller left). A live worker sends it at once; one
   * that stays silent for `hangGraceMs` is stuck (say, a synchronous endless
   * loop) and is killed, which fails its calls and starts a fresh worker.
   */
  private watch(call: InFlight, why: 'DEADLINE_EXCEEDED' | 'CANCELLED'): void {
    if (call.watchdog) return;
    call.watchdog = setTimeout(() => {
      // Kill first: calls sent from now on go to the next worker, not to this stuck one.
      this.worker.kill(`worker unresponsive for ${this.hangGraceMs} ms after a ${why === 'CANCELLED' ? 'cancel' : 'deadline'}`);
      const conn = this.conns.get(call.conn);
      if (why === 'DEADLINE_EXCEEDED' && conn?.calls.get(call.id) === call) {
        this.failCall(conn, call, errorData('DEADLINE_EXCEEDED', `the call exceeded its deadline and the worker did not respond for ${this.hangGraceMs} ms; the worker is restarted`));
      }
    }, this.hangGraceMs);
  }

  private forget(call: InFlight): void {
    clearTimeout(call.deadline);
    clearTimeout(call.watchdog);
  }

  private failCall(conn: Connection, call: InFlight, error: P.ErrorData): void {
    this.forget(call);
    conn.calls.delete(call.id);
    this.sendTo(conn, [P.ERROR, call.id, error]);
  }

  private onWorkerExit(description: string, generation: number): void {
    const error = errorData('WORKER_EXITED', `${description} while the call was running; a new worker is starting`);
    for (const conn of this.conns.values()) {
      for (const call of [...conn.calls.values()]) if (call.generation <= generation) this.failCall(conn, call, error);
    }
    for (const [key, orphan] of this.orphans) {
      if (orphan.generation > generation) continue;
      this.forget(orphan);
      this.orphans.delete(key);
    }
  }

  private onClose(conn: Connection): void {
    this.conns.delete(conn.id);
    if (conn.calls.size === 0) return;
    // The worker cancels this connection's calls; they stay watched until it confirms, so a hung worker is still caught.
    for (const call of conn.calls.values()) {
      this.orphans.set(`${conn.id}:${call.id}`, call);
      clearTimeout(call.deadline);
      if (this.worker.ready && call.generation === this.worker.generation) this.watch(call, 'CANCELLED');
    }
    this.worker.send(conn.id, encode([P.W_CLOSED, 0]));
  }

  private protocolError(conn: Connection, message: string): void {
    this.sendTo(conn, [P.ERROR, 0, errorData('PROTOCOL', message)]);
    if (++conn.protocolErrors >= MAX_PROTOCOL_ERRORS) conn.ws.close(1002, 'too many protocol errors');
  }

  private sendTo(conn: Connection, message: unknown[]): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(encode(message), { binary: true });
  }

  private broadcast(message: unknown[]): void {
    if (this.conns.size === 0) return;
    const bytes = encode(message);
    for (const conn of this.conns.values()) if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(bytes, { binary: true });
  }
}

export function randomToken(): string {
  return randomBytes(24).toString('base64url');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
