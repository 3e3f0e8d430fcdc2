/**
 * One watch for all the sandboxes a deployment is waiting on: a wave of 64
 * creates costs one LIST and one WATCH, not 64 polling loops. The watch runs
 * while someone waits (for a pod to become ready, or to be gone) and stops
 * when nobody does. It keeps the last state of every pod it has seen, so a
 * waiter that subscribes after its pod's event still sees it.
 *
 * LIST gives the current pods and a resourceVersion; WATCH goes on from
 * there. A watch the server ends (its timeout), or that stopped because
 * nobody waited, is resumed from the last version seen (the server replays
 * what happened meanwhile), so sandboxes made one after another cost one
 * WATCH each, not a LIST too; a version too old (410 Gone) starts over with a
 * LIST. Reconnects back off, and every waiter is bounded by its own signal.
 */
import { apiMessage, type KubeApi } from './api.js';
import type { PodView } from './pod-status.js';

/** What a waiter is told: the pod's state, or `null` once the (synced) view has no such pod. */
type Listener = (pod: PodView | null) => void;

const WATCH_TIMEOUT_S = 300;
const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 5_000;

export class PodWatch {
  private readonly pods = new Map<string, PodView>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private waiters = 0;
  private synced = false;
  private resourceVersion: string | undefined;
  private loop: Promise<void> | undefined;
  private stop: AbortController | undefined;
  private current: AbortController | undefined;
  /** The last reason the watch could not run, for the messages of waiters that time out. */
  lastError: string | undefined;

  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly labelSelector: string,
  ) {}

  /**
   * Resolves with the first non-undefined result of `decide` for the pod
   * `name` (called with its state on every change, and `null` when it is
   * gone); rejects with `onAbort()`'s error when `signal` aborts first.
   */
  until<T>(name: string, decide: (pod: PodView | null) => T | undefined, signal: AbortSignal, onAbort: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', aborted);
        const set = this.listeners.get(name);
        set?.delete(listener);
        if (set?.size === 0) this.listeners.delete(name);
        if (--this.waiters === 0) this.halt();
        fn();
      };
      const listener: Listener = (pod) => {
        let result: T | undefined;
        try {
          result = decide(pod);
        } catch (err) {
          return finish(() => reject(err));
        }
        if (result !== undefined) finish(() => resolve(result as T));
      };
      const aborted = () => finish(() => reject(onAbort()));
      this.waiters++;
      let set = this.listeners.get(name);
      if (!set) this.listeners.set(name, (set = new Set()));
      set.add(listener);
      if (signal.aborted) return aborted();
      signal.addEventListener('abort', aborted, { once: true });
      this.start();
      const known = this.pods.get(name);
      if (known) listener(known);
      else if (this.synced) listener(null);
    });
  }

  /** The last state seen of a pod, if the watch has seen it. */
  seen(name: string): PodView | undefined {
    return this.pods.get(name);
  }

  private start(): void {
    if (this.loop) return;
    this.stop = new AbortController();
    const stop = this.stop.signal;
    this.loop = this.run(stop).finally(() => {
      this.loop = undefined;
      // what happens from now on is unseen until a resumed watch replays it: no "gone" from the view meanwhile
      this.synced = false;
      // a waiter that came while the loop was ending needs a new one
      if (this.waiters > 0) this.start();
    });
  }

  private halt(): void {
    this.stop?.abort();
    this.current?.abort();
  }

  private async run(stop: AbortSignal): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    while (!stop.aborted) {
      try {
        if (!this.resourceVersion) await this.list(stop);
        const t0 = Date.now();
        const ended = await this.watchOnce(stop);
        if (ended === 'gone') {
          this.synced = false;
          this.resourceVersion = undefined;
        }
        if (ended === 'error') throw new Error(this.lastError ?? 'the watch failed');
        // a server that ends every watch at once must not get a tight loop of requests
        if (Date.now() - t0 < 1_000) {
          await sleep(backoff, stop);
          backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
        } else backoff = BACKOFF_MIN_MS;
      } catch (err) {
        if (stop.aborted) return;
        this.lastError = err instanceof Error && !('code' in err) ? err.message : apiMessage(err);
        await sleep(backoff, stop);
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  private async list(stop: AbortSignal): Promise<void> {
    const list = await this.api.core.listNamespacedPod({ namespace: this.namespace, labelSelector: this.labelSelector });
    if (stop.aborted) return;
    const names = new Set<string>();
    for (const pod of list.items as PodView[]) {
      const name = pod.metadata?.name;
      if (!name) continue;
      names.add(name);
      this.pods.set(name, pod);
    }
    for (const name of [...this.pods.keys()]) if (!names.has(name)) this.pods.delete(name);
    this.resourceVersion = list.metadata?.resourceVersion;
    this.synced = true;
    for (const name of [...this.listeners.keys()]) this.dispatch(name, this.pods.get(name) ?? null);
  }

  /** One WATCH request until it ends: 'closed' by the server (resume), 'gone' (relist), 'error'. */
  private watchOnce(stop: AbortSignal): Promise<'closed' | 'gone' | 'error'> {
    return new Promise((resolve, reject) => {
      let outcome: 'closed' | 'gone' | 'error' = 'closed';
      const onEvent = (type: string, obj: unknown) => {
        if (type === 'ERROR') {
          const status = obj as { code?: number; message?: string };
          outcome = status.code === 410 ? 'gone' : 'error';
          this.lastError = `the pod watch failed: ${status.message ?? `code ${status.code}`}`;
          this.current?.abort();
          return;
        }
        const pod = obj as PodView & { metadata?: { resourceVersion?: string } };
        if (pod.metadata?.resourceVersion) this.resourceVersion = pod.metadata.resourceVersion;
        if (type === 'BOOKMARK') return;
        const name = pod.metadata?.name;
        if (!name) return;
        if (type === 'DELETED') {
          this.pods.delete(name);
          this.dispatch(name, null);
        } else {
          this.pods.set(name, pod);
          this.dispatch(name, pod);
        }
      };
      const onDone = (err: unknown) => {
        this.current = undefined;
        if (err && !stop.aborted && outcome === 'closed' && !isAbort(err)) {
          // 410 as an HTTP status (some servers answer the request itself so)
          if ((err as { statusCode?: number }).statusCode === 410) return resolve('gone');
          return reject(err);
        }
        resolve(outcome);
      };
      this.api
        .watchPods(this.namespace, { labelSelector: this.labelSelector, resourceVersion: this.resourceVersion, timeoutSeconds: WATCH_TIMEOUT_S }, onEvent, onDone, stop)
        .then((controller) => {
          this.current = controller;
          if (stop.aborted) controller.abort();
        }, reject);
    });
  }

  private dispatch(name: string, pod: PodView | null): void {
    const set = this.listeners.get(name);
    if (set) for (const l of [...set]) l(pod);
  }
}

const isAbort = (err: unknown) => err instanceof Error && (err.name === 'AbortError' || (err as { type?: string }).type === 'aborted');

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
