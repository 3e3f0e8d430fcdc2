/**
 * The project the sandbox-option tests (network, ports, snapshots) run: a
 * function of each call shape beside the bash and files plugins, and probes
 * of the network as the sandbox sees it.
 */
import type { Channel } from 'agentix';
import { lookup } from 'node:dns/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';

export function hello(name: string): string {
  return `hello ${name}`;
}

export async function* count(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

export async function* chat(inbox: Channel<string>, prefix: string): AsyncGenerator<string> {
  for await (const line of inbox) yield prefix + line;
}

/** A TCP connection attempt from inside: 'connected', or the error code it failed with. */
export function tcpProbe(host: string, port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('TIMEOUT');
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

/** A name lookup from inside: the address, or the error code it failed with. */
export async function dnsProbe(name: string): Promise<string> {
  try {
    return (await lookup(name)).address;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** The network interfaces the sandbox has that are up (an address assigned), by name. */
export function interfaces(): string[] {
  return Object.keys(networkInterfaces()).sort();
}

export function cwd(): string {
  return process.cwd();
}

const servers = new Map<number, Server>();

/** Starts an HTTP server in the sandbox on `port` (all addresses) answering `body`; it lives as long as the worker. */
export function serveHttp(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer((_req, res) => res.end(body));
    server.once('error', reject);
    server.listen(port, () => {
      servers.set(port, server);
      resolve(port);
    });
  });
}
