/**
 * Every request the Kubernetes backend sends goes through here: one place
 * that applies the client-side rate limit, bounds the call, and counts it
 * (`counts`, per kind of request, for the bench and the tests). The typed
 * calls use client-node's generated CoreV1Api with a middleware; the watch
 * and the port-forward WebSocket, which client-node sends itself, take a
 * token here first.
 */
import { ApiException, CoreV1Api, createConfiguration, PortForward, ServerConfiguration, VersionApi, Watch, type KubeConfig, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import { RateLimiter } from './rate-limit.js';

/** Bound of one API call (client-go has none by default; every wait here is bounded). */
export const API_CALL_MS = 30_000;

export class KubeApi {
  readonly core: CoreV1Api;
  readonly versionApi: VersionApi;
  readonly limiter: RateLimiter;
  /** Requests sent, by kind: `POST pods`, `DELETE secrets`, `WATCH pods`, `PORTFORWARD pods`, … */
  readonly counts = new Map<string, number>();
  private readonly watcher: Watch;
  private readonly forwarder: PortForward;

  constructor(
    readonly kc: KubeConfig,
    rate: { qps: number; burst: number },
  ) {
    this.limiter = new RateLimiter(rate.qps, rate.burst);
    const server = kc.getCurrentCluster()!.server;
    const config = createConfiguration({
      baseServer: new ServerConfiguration(server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (ctx: RequestContext) => {
            await this.limiter.take();
            this.count(`${ctx.getHttpMethod()} ${kindOf(ctx.getUrl())}`);
            ctx.setSignal(AbortSignal.timeout(API_CALL_MS));
            return ctx;
          },
          post: async (rsp: ResponseContext) => rsp,
        },
      ],
    });
    this.core = new CoreV1Api(config);
    this.versionApi = new VersionApi(config);
    this.watcher = new Watch(kc);
    // disconnectOnErr false: an error frame of one connection must not close it before its data is read
    this.forwarder = new PortForward(kc, false);
  }

  /** All requests sent so far. */
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /** Starts a watch of the pods `labelSelector` picks, from `resourceVersion`; resolves once the request is on its way. */
  async watchPods(
    namespace: string,
    query: { labelSelector: string; resourceVersion?: string; timeoutSeconds: number },
    onEvent: (type: string, obj: unknown) => void,
    onDone: (err: unknown) => void,
    signal: AbortSignal,
  ): Promise<AbortController> {
    await this.limiter.take(signal);
    this.count('WATCH pods');
    return this.watcher.watch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, { ...query, allowWatchBookmarks: true }, onEvent, onDone);
  }

  /** One port-forward WebSocket to `port` of a pod, carrying `socket` both ways. */
  async portForward(namespace: string, pod: string, port: number, socket: Duplex): Promise<WebSocket> {
    await this.limiter.take(AbortSignal.timeout(API_CALL_MS));
    this.count('PORTFORWARD pods');
    return (await this.forwarder.portForward(namespace, pod, [port], socket, null, socket)) as unknown as WebSocket;
  }

  private count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }
}

/** `pods`, `pods/log`, `secrets`, `version` … from a request URL. */
function kindOf(url: string): string {
  const path = new URL(url).pathname;
  const m = /\/namespaces\/[^/]+\/([^/]+)(?:\/[^/]+(\/[^/]+)?)?$/.exec(path);
  if (m) return m[2] ? `${m[1]}${m[2]}` : m[1]!;
  return path.replace(/^\/+/, '') || '/';
}

/** HTTP status of a client-node error, if it has one. */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { statusCode?: unknown; code?: unknown })?.statusCode ?? (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's own message (its Status object's), else the error's. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as unknown;
    const parsed = typeof body === 'string' ? safeJson(body) : body;
    const msg = (parsed as { message?: unknown } | undefined)?.message;
    if (typeof msg === 'string' && msg) return `${msg} (HTTP ${err.code})`;
    return `HTTP ${err.code}${typeof body === 'string' && body ? `: ${body.slice(0, 300)}` : ''}`;
  }
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return `the API server did not answer within ${API_CALL_MS / 1000} s`;
  return err instanceof Error ? err.message : String(err);
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
