/**
 * `AGENTIX_K8S_CONNECT=port-forward`: a listener on 127.0.0.1 whose every TCP
 * connection becomes one port-forward WebSocket through the API server to
 * the pod's runtime port (client-node's PortForward, the v4 channel
 * protocol), so `runtimeUrl` is `ws://127.0.0.1:PORT` as with Docker.
 * Closed by `delete`; closing it ends every connection it carries.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type WebSocket from 'ws';
import { apiMessage, type KubeApi } from './api.js';

export class PodForward {
  private readonly sockets = new Set<Socket>();
  private readonly sockets2ws = new Map<Socket, WebSocket>();
  /** Why the last connection failed to reach the pod, for the messages of callers who could not connect. */
  lastError: string | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async open(api: KubeApi, namespace: string, pod: string, podPort: number): Promise<PodForward> {
    let self: PodForward | undefined;
    const server = createServer((socket) => self?.accept(api, namespace, pod, podPort, socket));
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    // like a Docker sandbox's published port, an idle listener does not keep the host process alive
    // (a process that exits without delete() leaves its pod to agentix gc, as with Docker); open connections do
    server.unref();
    self = new PodForward(server, port);
    return self;
  }

  private accept(api: KubeApi, namespace: string, pod: string, podPort: number, socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.sockets.delete(socket);
      const ws = this.sockets2ws.get(socket);
      this.sockets2ws.delete(socket);
      ws?.close();
    });
    // bytes the client sends before the WebSocket is open wait in the socket (client-node reads them on 'data')
    socket.pause();
    api.portForward(namespace, pod, podPort, socket).then(
      (ws) => {
        if (socket.destroyed) return void ws.close();
        this.sockets2ws.set(socket, ws);
        // client-node does not end the local side when the remote one closes, nor on a late error
        ws.on('close', () => socket.destroy());
        ws.on('error', (err) => {
          this.lastError = err.message;
          socket.destroy();
        });
        socket.resume();
      },
      (err: unknown) => {
        this.lastError = `the port-forward to pod ${pod} failed: ${describeUpgradeError(err)}`;
        socket.destroy();
      },
    );
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The ws library reports a refused upgrade as "Unexpected server response: 403". */
function describeUpgradeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : (err as { message?: string })?.message ?? apiMessage(err);
  const m = /Unexpected server response: (\d+)/.exec(msg);
  if (m?.[1] === '403') return `${msg} (the API server refused: RBAC must allow "create" on pods/portforward, see docs/kubernetes-rbac.yaml)`;
  return msg;
}
