/**
 * What the client needs from a connection: send a message, hear messages and
 * the close. `connectWebSocket` is the real one (a WebSocket to the runtime
 * server); tests plug the client straight into a worker's call engine through
 * the same interface (test/support/duplex.ts).
 */
import WebSocket from 'ws';
import { corkForTick } from '../wire/cork.js';
import { frameworkError, RemoteError } from '../wire/errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../wire/limits.js';

export interface ClientTransport {
  /** Sends one message. Dropped silently once the transport is closed (the close is reported instead). */
  send(bytes: Uint8Array): void;
  /** Closes; resolves once closed (bounded). */
  close(): Promise<void>;
  readonly open: boolean;
  /** Set by the client before any message can arrive. */
  onMessage: (bytes: Buffer) => void;
  onClose: (code: number, reason: string) => void;
}

export interface WebSocketOptions {
  token?: string;
  connectTimeoutMs: number;
  /** Largest message accepted from the server; a larger one closes the connection (1009). */
  maxPayload?: number;
}

const CLOSE_WAIT_MS = 2000;

/** Opens a WebSocket to `url` (`ws://host:port` or `ws+unix:///path/to.sock`); rejects with UNAUTHENTICATED / UNAVAILABLE. */
export async function connectWebSocket(url: string, opts: WebSocketOptions): Promise<ClientTransport> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    handshakeTimeout: opts.connectTimeoutMs,
    maxPayload: opts.maxPayload ?? 2 * DEFAULT_MAX_PAYLOAD + 1024,
  });
  ws.binaryType = 'nodebuffer';
  await new Promise<void>((resolve, reject) => {
    const fail = (err: RemoteError) => {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      reject(err);
    };
    ws.once('open', () => {
      ws.removeAllListeners();
      resolve();
    });
    ws.once('unexpected-response', (_req, res) => {
      const code = res.statusCode === 401 ? 'UNAUTHENTICATED' : 'UNAVAILABLE';
      res.resume();
      fail(new RemoteError(frameworkError(code, res.statusCode === 401 ? `the runtime at ${url} refused the token` : `the runtime at ${url} answered HTTP ${res.statusCode}`)));
    });
    ws.once('error', (err) => fail(new RemoteError(frameworkError('UNAVAILABLE', `cannot connect to ${url}: ${err.message}`))));
  });
  return new WebSocketTransport(ws);
}

class WebSocketTransport implements ClientTransport {
  onMessage: (bytes: Buffer) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    ws.on('error', () => undefined); // 'close' follows
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(bytes: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    corkForTick(this.ws);
    this.ws.send(bytes, { binary: true });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), CLOSE_WAIT_MS);
    await closed;
    clearTimeout(timer);
  }
}
