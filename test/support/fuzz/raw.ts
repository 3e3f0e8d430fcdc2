/**
 * Raw connections for the attack tests: a WebSocket whose every message is
 * kept (and waited for), and a bare TCP WebSocket client that can be made to
 * stop reading altogether — the slowest reader there is.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type WebSocket from 'ws';
import { decode } from '../../../runtime/wire/codec.js';
import { rawSocket } from '../raw-socket.js';

export type Message = unknown[];

/** A raw WebSocket that records every message it gets. */
export class Recorder {
  readonly messages: Message[] = [];
  closeCode: number | undefined;
  closeReason = '';

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.messages.push(decode(data) as Message));
    ws.on('close', (code, reason) => ((this.closeCode = code), (this.closeReason = reason.toString())));
  }

  static async open(url: string, token: string): Promise<Recorder> {
    return new Recorder(await rawSocket(url, token));
  }

  send(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  /** Messages about call `id` (LOG lines left out). */
  about(id: number): Message[] {
    return this.messages.filter((m) => Number(m[1]) === id && m[0] !== 21);
  }

  /** The final messages (RESULT, ERROR, END) of call `id`. */
  finals(id: number): Message[] {
    return this.about(id).filter((m) => m[0] === 16 || m[0] === 17 || m[0] === 19);
  }

  /** Waits (polling, bounded) until `check` holds; returns whether it did. */
  async until(check: () => boolean, withinMs = 10_000): Promise<boolean> {
    const end = Date.now() + withinMs;
    while (!check()) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  close(): void {
    this.ws.terminate();
  }
}

/**
 * A WebSocket client on a bare TCP socket: it completes the upgrade, then
 * writes frames and reads nothing unless told to (`pause()` stops reading,
 * so the kernel buffers fill and the server's send queue grows).
 */
export class BareClient {
  /** Messages received while reading (server frames are unmasked; only binary data frames are kept). */
  readonly messages: Message[] = [];
  private pending: Buffer = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.take(d));
  }

  private take(d: Buffer): void {
    this.pending = this.pending.length === 0 ? d : Buffer.concat([this.pending, d]);
    while (this.pending.length >= 2) {
      const len7 = this.pending[1]! & 0x7f;
      const off = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      if (this.pending.length < off) return;
      const len = len7 === 126 ? this.pending.readUInt16BE(2) : len7 === 127 ? Number(this.pending.readBigUInt64BE(2)) : len7;
      if (this.pending.length < off + len) return;
      if ((this.pending[0]! & 0x0f) === 2) this.messages.push(decode(this.pending.subarray(off, off + len)) as Message);
      this.pending = this.pending.subarray(off + len);
    }
  }

  /** The final messages (RESULT, ERROR, END) of call `id`. */
  finals(id: number): Message[] {
    return this.messages.filter((m) => Number(m[1]) === id && (m[0] === 16 || m[0] === 17 || m[0] === 19));
  }

  static async open(url: string, token: string): Promise<BareClient> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    const rest = await new Promise<Buffer>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.pause();
        if (head.subarray(0, 12).toString('latin1') === 'HTTP/1.1 101') resolve(head.subarray(end + 4));
        else reject(new Error(`upgrade refused: ${head.toString('latin1').split('\r\n')[0]}`));
      };
      socket.on('data', onData);
    });
    const client = new BareClient(socket);
    if (rest.length > 0) client.take(rest);
    socket.resume();
    return client;
  }

  /** Stops reading: nothing more is taken from the socket. */
  pause(): void {
    this.socket.pause();
  }

  /** Sends one binary message (masked with a zero key, so the bytes go as they are). */
  send(payload: Uint8Array): void {
    this.socket.write(wsFrame(payload));
  }

  /** Sends many messages in one write. */
  sendAll(payloads: Uint8Array[]): void {
    this.socket.write(Buffer.concat(payloads.map(wsFrame)));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A client-to-server binary frame, FIN set, masked with the key 0 (which leaves the payload unchanged). */
export function wsFrame(payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : n < 65536 ? Buffer.from([0x82, 0x80 | 126, n >> 8, n & 255]) : Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}
