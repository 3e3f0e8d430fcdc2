/**
 * The HTTP side of the runtime server: one `node:http` server for `/health`,
 * `/manifest` and the WebSocket upgrade, with the token check and the bounds
 * on connections that have not completed a request yet (a TCP connection that
 * never sends a byte must not hold a slot, or lock real clients out).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { MAX_UNAUTHENTICATED_CONNECTIONS, REQUEST_HEADER_TIMEOUT_MS } from '../wire/limits.js';

export interface HttpHandlers {
  /** Body of GET /health and whether it is healthy (200) or not (503). */
  health(): { ok: boolean; body: Record<string, unknown> };
  /** Body of GET /manifest (token required). */
  manifest(): unknown;
  /** Whether upgrades are refused (shutting down). */
  closing(): boolean;
  /** An authenticated upgrade: hand it to the WebSocket server. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** The token a request presents: `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235) or `?token=`. */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    return m?.[1];
  }
  const q = (req.url ?? '').split('?')[1];
  return q ? (new URLSearchParams(q).get('token') ?? undefined) : undefined;
}

export class TokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    if (!token) throw new Error('a token is required (AGENTIX_TOKEN, AGENTIX_TOKEN_FILE or --token)');
    this.expected = Buffer.from(token);
  }

  accepts(req: IncomingMessage): boolean {
    const given = presentedToken(req);
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === this.expected.length && timingSafeEqual(b, this.expected);
  }
}

const UNAUTHORIZED = JSON.stringify({ code: 'UNAUTHENTICATED', message: 'missing or wrong token' });

export function createHttpServer(token: TokenCheck, handlers: HttpHandlers, requestTimeoutMs = REQUEST_HEADER_TIMEOUT_MS): Server {
  const http = createServer((req, res) => route(req, res, token, handlers));
  // Node's own bound on slow headers, in step with ours below.
  http.headersTimeout = requestTimeoutMs;
  http.requestTimeout = requestTimeoutMs * 3;
  boundPendingConnections(http, requestTimeoutMs);
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // http removes its own error listener from an upgraded socket: a client that resets it mid-reply must not crash us.
    socket.on('error', () => socket.destroy());
    if (handlers.closing()) return void socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    if (!token.accepts(req)) {
      socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(UNAUTHORIZED)}\r\nConnection: close\r\n\r\n${UNAUTHORIZED}`);
      return;
    }
    handlers.upgrade(req, socket, head);
  });
  http.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return http;
}

function route(req: IncomingMessage, res: ServerResponse, token: TokenCheck, handlers: HttpHandlers): void {
  const path = (req.url ?? '/').split('?')[0];
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
  const known = path === '/health' || path === '/manifest';
  if (known && req.method !== 'GET' && req.method !== 'HEAD') {
    return json(405, { code: 'INVALID_ARGUMENT', message: `${path} answers GET and HEAD only` }, { allow: 'GET, HEAD' });
  }
  if (path === '/health') {
    const h = handlers.health();
    return json(h.ok ? 200 : 503, h.body);
  }
  if (!token.accepts(req)) return json(401, { code: 'UNAUTHENTICATED', message: 'missing or wrong token' });
  if (path === '/manifest') return json(200, handlers.manifest());
  json(404, { code: 'NOT_FOUND', message: `no route ${path}` });
}

/**
 * Every TCP connection must complete a request within `timeoutMs`, and at
 * most MAX_UNAUTHENTICATED_CONNECTIONS may be waiting to. A real client sends
 * its request the moment it is connected; a connection that has said nothing
 * for PROTECTED_MS is most likely part of a flood. So when too many wait, the
 * oldest ones silent for longer than that are dropped, and the young ones are
 * left their chance (up to a hard bound of four times as many): a flood of
 * silent connections opened as fast as they are accepted cannot keep a real
 * client, or /health, out.
 */
const PROTECTED_MS = 50;

function boundPendingConnections(http: Server, timeoutMs: number): void {
  const pending = new Map<Socket, { timer: NodeJS.Timeout; at: number }>();
  const settle = (socket: Socket) => {
    clearTimeout(pending.get(socket)?.timer);
    pending.delete(socket);
  };
  http.on('connection', (socket: Socket) => {
    const now = Date.now();
    for (const [oldest, { at }] of pending) {
      if (pending.size < MAX_UNAUTHENTICATED_CONNECTIONS) break;
      if (now - at < PROTECTED_MS && pending.size < 4 * MAX_UNAUTHENTICATED_CONNECTIONS) break;
      settle(oldest);
      oldest.destroy();
    }
    pending.set(socket, {
      at: now,
      timer: setTimeout(() => {
        pending.delete(socket);
        socket.destroy();
      }, timeoutMs),
    });
    socket.once('close', () => settle(socket));
  });
  const done = (req: IncomingMessage) => settle(req.socket);
  http.on('request', done);
  http.on('upgrade', done);
}
