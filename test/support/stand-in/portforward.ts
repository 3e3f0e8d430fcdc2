/**
 * The stand-in's `pods/portforward` subresource: the WebSocket form of it,
 * as client-node speaks it (subprotocol v4.channel.k8s.io). Per forwarded
 * port i, channel 2i carries data and 2i+1 errors; every binary frame starts
 * with its channel byte, and the server's first frame on each channel is the
 * port number (2 bytes, little endian). One TCP connection to the pod per
 * WebSocket, as kubectl's streams have one each.
 */
import { connect } from 'node:net';
import type { WebSocket } from 'ws';
import type { Address } from './kubelet.js';

export const PORTFORWARD_PROTOCOL = 'v4.channel.k8s.io';

export function forward(ws: WebSocket, to: Address): void {
  const portFrame = (channel: number) => {
    const b = Buffer.alloc(3);
    b[0] = channel;
    b.writeUInt16LE(to.port, 1);
    return b;
  };
  ws.send(portFrame(0));
  ws.send(portFrame(1));
  const tcp = connect(to.port, to.ip);
  tcp.on('data', (d: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([0]), d]));
  });
  tcp.on('error', (err) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(`error forwarding port ${to.port} to pod: ${err.message}`)]));
    ws.close();
  });
  tcp.on('close', () => ws.close());
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    if (data[0] === 0) tcp.write(data.subarray(1));
  });
  ws.on('close', () => tcp.destroy());
  ws.on('error', () => tcp.destroy());
}
