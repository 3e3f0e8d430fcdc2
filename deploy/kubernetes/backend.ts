/**
 * The Kubernetes deployment: one Pod per sandbox (and the Secret with its
 * token), the task image as its container, the bundle's /nix mounted by an
 * image volume or copied in by an init container (pod-spec.ts). Readiness is
 * the kubelet's probe on /health, waited for through one shared watch
 * (pod-watch.ts); the runtime is reached by pod IP inside the cluster or by
 * port-forward from outside (port-forward.ts). Every request is rate limited
 * and counted (api.ts). Configuration: settings.ts (environment) and
 * cluster.ts (which cluster).
 */
import { randomBytes } from 'node:crypto';
import { SANDBOX_PORT } from '../../bundle/layout.js';
import { checkConfig, DEFAULT_STARTUP_MS } from '../shared/config.js';
import { invalidId, startupFailure } from '../shared/errors.js';
import { healthOk } from '../shared/health.js';
import { LABELS, ownerLabels } from '../shared/labels.js';
import { lifetimeTimer, type LifetimeTimer } from '../shared/lifetime-timer.js';
import { SandboxMemo } from '../shared/memo.js';
import { runtimeEnv } from '../shared/runtime-env.js';
import { sandboxToken } from '../shared/token.js';
import type { Deployment, Sandbox, SandboxConfig, SandboxInfo } from '../types.js';
import { apiMessage, apiStatus, KubeApi } from './api.js';
import { loadCluster, type Cluster } from './cluster.js';
import { PodForward } from './port-forward.js';
import { checkK8sConfig, CONTAINER_NAME, sandboxObjects, TERMINATION_GRACE_S } from './pod-spec.js';
import { containerStarted, readiness, stateOf, type PodView } from './pod-status.js';
import { PodWatch } from './pod-watch.js';
import { defaultInject, settingsFromEnv, type ConnectMode, type InjectMode, type K8sSettings } from './settings.js';

/** How often create() tries /health through its connection once the pod is Ready (each try is one port-forward). */
const HEALTH_TRIES = 3;
const HEALTH_RETRY_MS = 200;
/** How long delete() waits for the runtime's own graceful stop before it forces (grace period 0). */
const DELETE_WAIT_MS = (TERMINATION_GRACE_S + 4) * 1000;
const FORCED_DELETE_WAIT_MS = 10_000;
const LOG_TAIL_LINES = 40;

/** Pod names this backend gives: `agentix-` and 10 hex digits. */
const SANDBOX_ID = /^agentix-[0-9a-f]{10}$/;

export class KubernetesDeployment implements Deployment {
  readonly namespace: string;
  readonly connect: ConnectMode;
  /** Every API request this instance sent, counted by kind (see KubeApi.counts). */
  readonly api: KubeApi;
  private readonly cluster: Cluster;
  private readonly settings: K8sSettings;
  private inject: Promise<InjectMode> | undefined;
  private watch: PodWatch | undefined;
  private readonly forwards = new Map<string, PodForward>();
  /** sandbox → the port-forwards of its `config.ports` (port-forward mode) */
  private readonly portForwards = new Map<string, PodForward[]>();
  /** sandbox → the timer that deletes it at the end of its lifetime */
  private readonly lifetimes = new Map<string, LifetimeTimer>();
  private readonly memo = new SandboxMemo();

  constructor() {
    this.settings = settingsFromEnv();
    this.cluster = loadCluster();
    this.namespace = this.settings.namespace ?? this.cluster.namespace ?? 'default';
    this.connect = this.settings.connect ?? (this.cluster.inCluster ? 'pod-ip' : 'port-forward');
    this.api = new KubeApi(this.cluster.kc, this.settings);
  }

  /** The inject mode: AGENTIX_K8S_INJECT, else chosen once from the server's version. */
  injectMode(): Promise<InjectMode> {
    if (this.settings.inject) return Promise.resolve(this.settings.inject);
    return (this.inject ??= this.serverVersion().then(defaultInject, (err) => {
      this.inject = undefined; // the next create asks again
      throw err;
    }));
  }

  /** GET /version: the server's version, or an error that names the server and where its address came from. */
  async serverVersion(): Promise<{ major: string; minor: string; gitVersion: string }> {
    try {
      return await this.api.versionApi.getCode();
    } catch (err) {
      throw new Error(`the Kubernetes API server at ${this.server} does not answer (${apiMessage(err)}); configuration from ${this.cluster.source}`);
    }
  }

  async create(config: SandboxConfig): Promise<Sandbox> {
    checkConfig(config);
    checkK8sConfig(config);
    const inject = await this.injectMode();
    const timeoutMs = config.startupTimeoutMs ?? DEFAULT_STARTUP_MS;
    // The startup time counts from the moment the API server accepted the pod: a wave's requests may first
    // wait for the client-side rate limit, and that wait (finite: the limiter drains at AGENTIX_K8S_QPS) comes on top.
    const startup = new AbortController();
    let startupTimer: NodeJS.Timeout | undefined;
    let started = Date.now();
    const name = `agentix-${randomBytes(5).toString('hex')}`;
    const { token, env: tokenEnv } = sandboxToken();
    const labels: Record<string, string> = {
      ...config.labels,
      [LABELS.sandbox]: '1',
      ...ownerLabels(),
      [LABELS.createId]: name,
      ...(config.lifetimeMs ? { [LABELS.expiresAt]: String(Date.now() + config.lifetimeMs) } : {}),
    };
    const annotations: Record<string, string> = { [LABELS.bundle]: config.bundle, [LABELS.image]: config.image };
    const { secret, pod } = sandboxObjects({
      name,
      namespace: this.namespace,
      config,
      inject,
      env: runtimeEnv(config),
      tokenEnv,
      labels,
      annotations,
      runtimeClass: this.settings.runtimeClass,
      imagePullSecrets: this.settings.imagePullSecrets,
    });
    // subscribed before the pod exists: its every event reaches this waiter
    let last: PodView | undefined;
    const ready = this.podWatch().until(
      name,
      (p) => {
        if (!p) return undefined;
        last = p;
        const r = readiness(p);
        if (r.ready) return r;
        if (r.failed) throw new Error(r.failed);
        return undefined;
      },
      startup.signal,
      () => new Error(`the pod did not become ready within ${timeoutMs} ms: ${last ? doingOf(last) : `the API server reported nothing of it${this.watch?.lastError ? ` (${this.watch.lastError})` : ''}`}`),
    );
    ready.catch(() => undefined); // awaited below; a failed create() must not also leave an unhandled rejection
    let created = false;
    try {
      await this.api.core.createNamespacedSecret({ namespace: this.namespace, body: secret as never }).catch((err) => {
        throw new Error(`cannot create the sandbox's Secret in namespace ${this.namespace}: ${apiMessage(err)}`);
      });
      await this.api.core.createNamespacedPod({ namespace: this.namespace, body: pod as never }).catch((err) => {
        throw new Error(`cannot create the sandbox's Pod in namespace ${this.namespace}: ${apiMessage(err)}`);
      });
      created = true;
      started = Date.now();
      startupTimer = setTimeout(() => startup.abort(), timeoutMs);
      const r = await ready;
      const runtimeUrl = await this.reach(name, r.podIP, timeoutMs, started + timeoutMs, startup.signal);
      const ports = await this.userPorts(name, r.podIP, config.ports ?? []);
      clearTimeout(startupTimer);
      this.memo.remember({ id: name, state: 'running', created: new Date(started), image: config.image, bundle: config.bundle, runtimeUrl });
      // while this process lives it deletes the sandbox at its lifetime; after, the deadline and gc do
      if (config.lifetimeMs) this.lifetimes.set(name, lifetimeTimer(started + config.lifetimeMs, () => void this.delete(name).catch(() => undefined)));
      return { id: name, runtimeUrl, token, ports };
    } catch (err) {
      clearTimeout(startupTimer);
      startup.abort(); // ends the readiness wait if the failure came before it
      const why = err instanceof Error ? err.message : String(err);
      const output = created ? await this.lastLogLines(name, last) : '';
      const leftover = await this.remove(name, 0).then(
        () => '',
        (e: Error) => `removing pod and secret ${name} failed too (${e.message}): remove them with kubectl delete pod,secret -n ${this.namespace} ${name}, or agentix gc`,
      );
      throw startupFailure({ image: config.image, bundle: config.bundle, why, output, outputName: 'pod', leftover });
    }
  }

  async delete(id: string): Promise<void> {
    checkId(id);
    const mine = !!this.memo.gone(id);
    if (!mine) {
      // not made by this instance: refuse what is not an agentix sandbox, as Docker's delete does
      const pod = await this.api.core.readNamespacedPod({ name: id, namespace: this.namespace }).catch((err) => {
        if (apiStatus(err) === 404) return undefined;
        throw new Error(`cannot delete sandbox ${id}: ${apiMessage(err)}`);
      });
      if (pod && pod.metadata?.labels?.[LABELS.sandbox] !== '1') throw new Error(`pod ${id} is not an agentix sandbox; not deleting it`);
      if (!pod) {
        await this.deleteSecret(id);
        return;
      }
    }
    // another process's pod is outside this instance's watch: deleted with the same grace, not waited for
    await this.remove(id, TERMINATION_GRACE_S, mine);
    this.memo.markDeleted(id);
  }

  async get(id: string): Promise<SandboxInfo> {
    checkId(id);
    let pod: PodView;
    try {
      pod = (await this.api.core.readNamespacedPod({ name: id, namespace: this.namespace })) as PodView;
    } catch (err) {
      const gone = apiStatus(err) === 404 ? this.memo.gone(id) : undefined;
      if (gone) return gone;
      if (apiStatus(err) === 404) throw new Error(`no sandbox ${id} in namespace ${this.namespace}`);
      throw new Error(`cannot read sandbox ${id}: ${apiMessage(err)}`);
    }
    const meta = pod.metadata ?? {};
    if (meta.labels?.[LABELS.sandbox] !== '1') throw new Error(`pod ${id} is not an agentix sandbox`);
    const state = stateOf(pod);
    const forward = this.forwards.get(id);
    const runtimeUrl =
      state !== 'running' ? undefined : forward ? `ws://127.0.0.1:${forward.port}` : this.connect === 'pod-ip' && pod.status?.podIP ? podUrl(pod.status.podIP) : undefined;
    return {
      id,
      state,
      created: meta.creationTimestamp instanceof Date ? meta.creationTimestamp : new Date(String(meta.creationTimestamp ?? 0)),
      image: meta.annotations?.[LABELS.image] ?? pod.spec?.containers?.[0]?.image ?? '',
      bundle: meta.annotations?.[LABELS.bundle] ?? '',
      runtimeUrl,
    };
  }

  private get server(): string {
    return this.cluster.kc.getCurrentCluster()?.server ?? '(no server)';
  }

  private podWatch(): PodWatch {
    return (this.watch ??= new PodWatch(this.api, this.namespace, `${LABELS.sandbox}=1,${LABELS.ownerHost}=${ownerLabels()[LABELS.ownerHost]},${LABELS.ownerPid}=${process.pid}`));
  }

  /**
   * The host URL of each of `config.ports`: the pod IP's port in pod-ip mode,
   * else a port-forward of its own on 127.0.0.1 (connecting only when used).
   */
  private async userPorts(name: string, podIP: string | undefined, ports: number[]): Promise<Record<number, string>> {
    const out: Record<number, string> = {};
    if (this.connect === 'pod-ip') {
      for (const p of ports) out[p] = podIP!.includes(':') ? `http://[${podIP}]:${p}` : `http://${podIP}:${p}`;
      return out;
    }
    const opened: PodForward[] = [];
    this.portForwards.set(name, opened);
    for (const p of ports) {
      const fw = await PodForward.open(this.api, this.namespace, name, p);
      opened.push(fw);
      out[p] = `http://127.0.0.1:${fw.port}`;
    }
    return out;
  }

  /** The runtime's URL through this instance's connection mode, checked with /health once the pod is Ready. */
  private async reach(name: string, podIP: string | undefined, timeoutMs: number, deadline: number, startup: AbortSignal): Promise<string> {
    let host: string;
    let port: number;
    let forward: PodForward | undefined;
    if (this.connect === 'pod-ip') {
      if (!podIP) throw new Error('the pod is Ready but has no IP (status.podIP)');
      host = podIP;
      port = SANDBOX_PORT;
    } else {
      forward = await PodForward.open(this.api, this.namespace, name, SANDBOX_PORT);
      this.forwards.set(name, forward);
      host = '127.0.0.1';
      port = forward.port;
    }
    for (let i = 0; i < HEALTH_TRIES && !startup.aborted; i++) {
      // the remaining startup time, plus (through port-forward) the time the rate limiter's queue takes to drain:
      // waiting for the client-side limit does not count against startupTimeoutMs
      const drainMs = forward ? (this.api.limiter.queued / this.api.limiter.qps) * 1000 : 0;
      if (await healthOk(host, port, Math.max(1_000, deadline - Date.now()) + drainMs)) return host === '127.0.0.1' ? `ws://127.0.0.1:${port}` : podUrl(host);
      await new Promise((r) => setTimeout(r, HEALTH_RETRY_MS));
    }
    const queued = this.api.limiter.queued ? `; ${this.api.limiter.queued} requests were waiting for the client-side rate limit (AGENTIX_K8S_QPS=${this.api.limiter.qps})` : '';
    const via = forward ? `port-forward through the API server${forward.lastError ? ` (${forward.lastError})` : ''}${queued}` : `the pod IP ${podIP}:${SANDBOX_PORT} (is this host inside the cluster? else AGENTIX_K8S_CONNECT=port-forward)`;
    throw new Error(`the pod is Ready but its runtime did not answer /health through ${via}${startup.aborted ? ` within ${timeoutMs} ms` : ''}`);
  }

  /**
   * Deletes the pod (with `graceS` for the runtime's own graceful stop, then
   * forced with grace 0 if it is still there) and its Secret, and (`wait`)
   * waits until the pod is gone: when this returns, nothing of the sandbox runs.
   */
  private async remove(name: string, graceS: number, wait = true): Promise<void> {
    const forward = this.forwards.get(name);
    this.forwards.delete(name);
    const userForwards = this.portForwards.get(name) ?? [];
    this.portForwards.delete(name);
    this.lifetimes.get(name)?.cancel();
    this.lifetimes.delete(name);
    const closing = Promise.all([forward?.close(), ...userForwards.map((f) => f.close())]);
    const secret = this.deleteSecret(name);
    // subscribed before each DELETE is sent, so the pod's DELETED event cannot come before the waiter
    const watchGone = () => {
      const stop = new AbortController();
      const gone = this.podWatch()
        .until(name, (p) => (p === null ? true : undefined), stop.signal, () => new Error('still there'))
        .then(
          () => true,
          () => false,
        );
      return {
        within: (ms: number) => {
          const timer = setTimeout(() => stop.abort(), ms);
          return gone.finally(() => clearTimeout(timer));
        },
        cancel: () => stop.abort(),
      };
    };
    const deletePod = async (grace: number): Promise<boolean> => {
      const gone = wait ? watchGone() : undefined;
      const existed = await this.api.core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: grace }).then(
        () => true,
        (err) => {
          gone?.cancel();
          if (apiStatus(err) === 404) return false;
          throw new Error(`cannot delete pod ${name}: ${apiMessage(err)}`);
        },
      );
      if (!existed || !gone) return true;
      if (!(await gone.within(grace > 0 ? DELETE_WAIT_MS : FORCED_DELETE_WAIT_MS))) return false;
      return true;
    };
    try {
      // true: gone (or not waited for); false: still there after the runtime's grace
      if (!(await deletePod(graceS))) {
        // the runtime did not stop within its grace: grace period 0
        if (graceS === 0 || !(await deletePod(0))) throw new Error(`pod ${name} was still there ${FORCED_DELETE_WAIT_MS / 1000} s after a forced delete`);
      }
    } finally {
      await secret;
      await closing;
    }
  }

  private async deleteSecret(name: string): Promise<void> {
    await this.api.core.deleteNamespacedSecret({ name, namespace: this.namespace }).catch((err) => {
      if (apiStatus(err) !== 404) throw new Error(`cannot delete secret ${name}: ${apiMessage(err)}`);
    });
  }

  /** The last lines the pod's containers printed, or '' (it only decorates another error). */
  private async lastLogLines(name: string, pod: PodView | undefined): Promise<string> {
    const started = containerStarted(pod);
    if (!started) return '';
    try {
      const text = await this.api.core.readNamespacedPodLog({ name, namespace: this.namespace, container: started.name ?? CONTAINER_NAME, tailLines: LOG_TAIL_LINES });
      return String(text).trimEnd();
    } catch {
      return '';
    }
  }
}

function doingOf(pod: PodView): string {
  const r = readiness(pod);
  return r.ready ? 'Ready' : r.doing;
}

function podUrl(ip: string): string {
  return ip.includes(':') ? `ws://[${ip}]:${SANDBOX_PORT}` : `ws://${ip}:${SANDBOX_PORT}`;
}

/** An id must be a pod name this backend gives: nothing else reaches the API server. */
function checkId(id: string): void {
  if (typeof id !== 'string' || !SANDBOX_ID.test(id)) throw invalidId(id, 'agentix- and 10 hex digits');
}

