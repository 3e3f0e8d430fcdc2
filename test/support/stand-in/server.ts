/**
 * A stand-in Kubernetes API server for the tests (no control plane can run
 * on our machines). It implements only what the Kubernetes backend uses:
 *
 *   GET    /version
 *   POST/GET(list, watch)                 /api/v1/namespaces/NS/{pods,secrets}
 *   GET/DELETE                            /api/v1/namespaces/NS/{pods,secrets}/NAME
 *   GET                                   /api/v1/namespaces/NS/pods/NAME/log
 *   WebSocket                             /api/v1/namespaces/NS/pods/NAME/portforward
 *
 * over TLS (a self-signed certificate for 127.0.0.1, its CA in the
 * kubeconfig, as a real cluster's), with bearer-token auth, Status objects for errors, resourceVersions and
 * resumable watches, and every pod run on the real local Docker engine by
 * kubelet.ts. The backend is pointed at it by an ordinary kubeconfig on
 * 127.0.0.1 and cannot tell. Every pod is also checked against the official
 * OpenAPI schema (kubernetes-models) as an API server's validation would.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { Pod, Secret } from 'kubernetes-models/v1';
import { WebSocketServer } from 'ws';
import { Kubelet } from './kubelet.js';
import { forward, PORTFORWARD_PROTOCOL } from './portforward.js';
import { parseSelector, Store, type Kind, type Obj } from './store.js';

export interface StandInOptions {
  docker: Docker;
  /** Labels on everything the stand-in makes in the engine (the test run's). */
  runLabels: Record<string, string>;
  /** What /version says (default 1.35: image volumes on by default). */
  version?: { major: string; minor: string };
  namespace?: string;
}

export interface StandIn {
  url: string;
  /** A kubeconfig file for it (current context: its namespace), removed by close(). */
  kubeconfig: string;
  namespace: string;
  store: Store;
  kubelet: Kubelet;
  /** Requests it served, by RBAC verb and resource (`watch pods`, `create pods/portforward`, `get version`, …). */
  requests: Map<string, number>;
  close(): Promise<void>;
}

const API = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/(pods|secrets)(?:\/([a-z0-9.-]+)(?:\/(log|portforward))?)?$/;

export async function startStandIn(opts: StandInOptions): Promise<StandIn> {
  const token = randomBytes(16).toString('hex');
  const namespace = opts.namespace ?? 'agentix-test';
  const version = opts.version ?? { major: '1', minor: '35' };
  const store = new Store();
  // a /24 of loopback addresses of its own, so two stand-ins (or test files) never share pod IPs
  const kubelet = new Kubelet(opts.docker, store, opts.runLabels, `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 256)}`);
  const requests = new Map<string, number>();
  const count = (k: string) => requests.set(k, (requests.get(k) ?? 0) + 1);
  const watches = new Set<ServerResponse>();

  const dir = mkdtempSync(join(tmpdir(), 'agentix-stand-in-'));
  const tls = selfSignedCertificate(dir);
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch((err: Error) => send(res, 500, status(500, 'InternalError', `stand-in: ${err.message}`)));
  });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has(PORTFORWARD_PROTOCOL) ? PORTFORWARD_PROTOCOL : false) });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const m = API.exec(url.pathname);
    const refuse = (code: number, text: string) => {
      socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Length: 0\r\n\r\n`);
    };
    if (req.headers.authorization !== `Bearer ${token}`) return refuse(401, 'Unauthorized');
    if (!m || m[2] !== 'pods' || m[4] !== 'portforward') return refuse(404, 'Not Found');
    count('create pods/portforward');
    const port = Number(url.searchParams.get('ports'));
    const pod = store.get('pods', m[1]!, m[3]!);
    const to = pod && pod.status?.phase === 'Running' ? kubelet.address(m[1]!, m[3]!, port) : undefined;
    if (!to) return refuse(pod ? 400 : 404, pod ? 'Bad Request' : 'Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => forward(ws, to));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (url.pathname === '/version' && req.method === 'GET') {
      count('get version');
      return send(res, 200, { ...version, gitVersion: `v${version.major}.${version.minor}.0-stand-in`, platform: 'linux/amd64' });
    }
    const m = API.exec(url.pathname);
    if (!m) return send(res, 404, status(404, 'NotFound', `stand-in: no route ${req.method} ${url.pathname}`));
    const [, ns, kind, name, sub] = m as unknown as [string, string, Kind, string | undefined, string | undefined];
    const watch = url.searchParams.get('watch') === 'true';
    const verb = watch ? 'watch' : req.method === 'POST' ? 'create' : req.method === 'DELETE' ? 'delete' : req.method === 'GET' ? (name ? 'get' : 'list') : req.method!.toLowerCase();
    count(`${verb} ${kind}${sub ? `/${sub}` : ''}`);
    if (sub === 'log' && req.method === 'GET') {
      if (!store.get('pods', ns, name!)) return send(res, 404, notFound(kind, name!));
      const text = await kubelet.logs(ns, name!, url.searchParams.get('container') ?? undefined);
      const tail = Number(url.searchParams.get('tailLines') ?? 0);
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end(tail > 0 ? text.split('\n').slice(-tail).join('\n') : text);
    }
    if (sub) return send(res, 405, status(405, 'MethodNotAllowed', `stand-in: ${req.method} ${sub} is not implemented`));
    if (!name && req.method === 'POST') return create(kind, ns, await body(req), res);
    if (!name && req.method === 'GET') {
      let selector;
      try {
        selector = parseSelector(url.searchParams.get('labelSelector'));
      } catch (err) {
        return send(res, 400, status(400, 'BadRequest', (err as Error).message));
      }
      if (watch) return startWatch(kind, ns, selector, url, res);
      return send(res, 200, { apiVersion: 'v1', kind: kind === 'pods' ? 'PodList' : 'SecretList', metadata: { resourceVersion: String(store.version) }, items: store.list(kind, ns, selector) });
    }
    if (name && req.method === 'GET') {
      const obj = store.get(kind, ns, name);
      return obj ? send(res, 200, obj) : send(res, 404, notFound(kind, name));
    }
    if (name && req.method === 'DELETE') {
      const obj = store.get(kind, ns, name);
      if (!obj) return send(res, 404, notFound(kind, name));
      const options = (await body(req).catch(() => ({}))) as { gracePeriodSeconds?: number };
      const q = url.searchParams.get('gracePeriodSeconds');
      const grace = q !== null ? Number(q) : (options.gracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30);
      if (kind === 'secrets') {
        store.remove(kind, ns, name);
        return send(res, 200, status(200, 'Success', ''));
      }
      // graceful: marked first (a MODIFIED event with deletionTimestamp), gone once the kubelet stopped it
      if (!obj.metadata.deletionTimestamp || grace === 0) {
        const marked = structuredClone(obj);
        marked.metadata.deletionTimestamp ??= new Date(Date.now() + grace * 1000).toISOString();
        marked.metadata.deletionGracePeriodSeconds = grace;
        const stored = store.put('pods', marked, 'MODIFIED');
        void kubelet.delete(ns, name, grace);
        return send(res, 200, stored);
      }
      return send(res, 200, obj);
    }
    return send(res, 405, status(405, 'MethodNotAllowed', `stand-in: ${req.method} ${url.pathname} is not implemented`));
  }

  function create(kind: Kind, ns: string, obj: Obj, res: ServerResponse): void {
    const name = obj?.metadata?.name;
    if (!name) return send(res, 422, status(422, 'Invalid', `${kind}: metadata.name: Required value`));
    if (obj.metadata.namespace && obj.metadata.namespace !== ns) return send(res, 400, status(400, 'BadRequest', 'the namespace of the object does not match the namespace of the request'));
    if (store.get(kind, ns, name)) return send(res, 409, status(409, 'AlreadyExists', `${kind} "${name}" already exists`));
    try {
      // what the real API server checks, from the official OpenAPI schema
      (kind === 'pods' ? new Pod(obj as never) : new Secret(obj as never)).validate();
    } catch (err) {
      return send(res, 422, status(422, 'Invalid', `${kind} "${name}" is invalid: ${(err as Error).message}`));
    }
    if (kind === 'pods' && imageVolumeUnknown(obj, version))
      return send(res, 422, status(422, 'Invalid', `Pod "${name}" is invalid: spec.volumes[0]: Required value: must specify a volume type (this server, v${version.major}.${version.minor}, has no image volumes)`));
    const stored = store.put(kind, { ...obj, metadata: { ...obj.metadata, namespace: ns, uid: randomBytes(8).toString('hex'), creationTimestamp: new Date().toISOString() } }, 'ADDED');
    if (kind === 'pods') kubelet.start(stored);
    send(res, 201, stored);
  }

  function startWatch(kind: Kind, ns: string, selector: (l: Record<string, string>) => boolean, url: URL, res: ServerResponse): void {
    const rv = url.searchParams.get('resourceVersion');
    const timeoutS = Number(url.searchParams.get('timeoutSeconds') ?? 1800);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    watches.add(res);
    const write = (type: string, object: unknown) => res.write(JSON.stringify({ type, object }) + '\n');
    const matches = (o: Obj) => o.metadata.namespace === ns && selector(o.metadata.labels ?? {});
    if (rv) {
      const past = store.since(Number(rv));
      if (!past) {
        write('ERROR', status(410, 'Expired', `too old resource version: ${rv} (${store.version})`));
        watches.delete(res);
        return void res.end();
      }
      for (const e of past) if (e.kind === kind && matches(e.object)) write(e.type, e.object);
    } else for (const o of store.list(kind, ns, selector)) write('ADDED', o);
    const unsubscribe = store.subscribe((e) => {
      if (e.kind === kind && matches(e.object)) write(e.type, e.object);
    });
    const end = () => {
      clearTimeout(timer);
      unsubscribe();
      watches.delete(res);
      res.end();
    };
    const timer = setTimeout(end, timeoutS * 1000);
    res.on('close', end);
  }

  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stand-in', cluster: { server: url, 'certificate-authority-data': tls.cert.toString('base64') } }],
      users: [{ name: 'stand-in', user: { token } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stand-in', namespace } }],
      'current-context': 'stand-in',
    }),
  );
  return {
    url,
    kubeconfig,
    namespace,
    store,
    kubelet,
    requests,
    close: async () => {
      for (const w of watches) w.end();
      for (const ws of wss.clients) ws.terminate();
      await kubelet.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A key and a self-signed certificate for 127.0.0.1 (openssl), written into `dir`. */
function selfSignedCertificate(dir: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=agentix-stand-in', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`stand-in: cannot make its TLS certificate with openssl (apt-get install openssl): ${(err as Error).message}`);
  }
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

/** An image volume sent to a server from before them: it drops the unknown field, leaving a volume of no type. */
function imageVolumeUnknown(pod: Obj, version: { major: string; minor: string }): boolean {
  const old = Number(version.major) === 1 && Number.parseInt(version.minor, 10) < 33;
  return old && (pod.spec?.volumes ?? []).some((v: { image?: unknown }) => v.image !== undefined);
}

function status(code: number, reason: string, message: string) {
  return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: code < 400 ? 'Success' : 'Failure', message, reason, code };
}

function notFound(kind: string, name: string) {
  return status(404, 'NotFound', `${kind} "${name}" not found`);
}

function send(res: ServerResponse, code: number, obj: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(obj));
}

async function body(req: IncomingMessage): Promise<Obj> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 4 << 20) throw new Error('stand-in: request body over 4 MiB');
  }
  return text ? (JSON.parse(text) as Obj) : ({} as Obj);
}
