/**
 * The stand-in's kubelet: runs each pod of the stand-in API server on the
 * real local Docker engine, the way a node would, and writes its status back.
 *
 *   images         present in the engine, else `docker pull` (ErrImagePull / ImagePullBackOff with
 *                  the engine's message while that fails, retried with back-off as a kubelet does)
 *   image volume   the bundle's /nix through the Docker backend's carrier (the engine copies the
 *                  image's /nix into the carrier's volume once): only as `/nix` with subPath `nix`
 *   emptyDir       a Docker volume per pod; init containers run first, one after another
 *   secrets        env valueFrom.secretKeyRef and envFrom.secretRef from the store
 *   ports          the pod gets an address of its own in 127.0.0.0/8 (its podIP) and its container
 *                  ports are published there, so pod IP and port-forward both work on loopback only
 *   readiness      the httpGet probe, every periodSeconds
 *   shareProcessNamespace   Docker's Init (a PID 1 that reaps orphans), as the pause container would be
 *
 * Everything it makes in the engine carries the stand-in's run label.
 */
import type Docker from 'dockerode';
import { dockerMessage, statusOf } from '../../../bundle/docker-engine.js';
import { ensureCarrier } from '../../../deploy/docker/carrier.js';
import { removeContainer } from '../../../deploy/docker/gc.js';
import { lastLogLines } from '../../../deploy/docker/logs.js';
import { healthOk } from '../../../deploy/shared/health.js';
import type { Obj, Store } from './store.js';

const PULL_BACKOFF_MS = [1_000, 2_000, 4_000, 8_000];
const POD_LABEL = 'agentix-test.stand-in-pod';

interface PodRun {
  ns: string;
  name: string;
  ip: string;
  deleting: AbortController;
  containers: string[];
  volumes: string[];
  /** settles when the run loop has stopped touching the engine */
  done?: Promise<void>;
}

export interface Address {
  ip: string;
  port: number;
}

export class Kubelet {
  private readonly runs = new Map<string, PodRun>();
  private nextIp = 1;

  constructor(
    private readonly docker: Docker,
    private readonly store: Store,
    /** labels on every container and volume it makes (the test run's) */
    private readonly runLabels: Record<string, string>,
    /** first three octets of the pods' loopback addresses, e.g. "127.77.3" */
    private readonly ipPrefix: string,
  ) {}

  /** Containers and volumes this kubelet still has in the engine (for "nothing left" checks). */
  get active(): number {
    return this.runs.size;
  }

  start(pod: Obj): void {
    const ns = pod.metadata.namespace;
    const name = pod.metadata.name;
    const ip = `${this.ipPrefix}.${this.nextIp++ % 250 + 2}`;
    const run: PodRun = { ns, name, ip, deleting: new AbortController(), containers: [], volumes: [] };
    this.runs.set(`${ns}/${name}`, run);
    run.done = this.run(run).catch((err: Error) => {
      if (!run.deleting.signal.aborted) this.fail(run, 'StandInError', err.message);
    });
  }

  /** Where a pod's container port is reachable (for port-forward), if it runs. */
  address(ns: string, name: string, port: number): Address | undefined {
    const run = this.runs.get(`${ns}/${name}`);
    return run ? { ip: run.ip, port } : undefined;
  }

  async logs(ns: string, name: string, container: string | undefined): Promise<string> {
    const run = this.runs.get(`${ns}/${name}`);
    const pod = this.store.get('pods', ns, name);
    if (!run || !pod) return '';
    const names: string[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c: { name: string }) => c.name);
    const i = container ? names.indexOf(container) : names.length - 1;
    const id = run.containers[i];
    return id ? lastLogLines(this.docker.getContainer(id)) : '';
  }

  /** Stops a pod (SIGTERM, `graceS` to exit, then SIGKILL), removes what it made, then the object. */
  async delete(ns: string, name: string, graceS: number): Promise<void> {
    const run = this.runs.get(`${ns}/${name}`);
    if (run) {
      run.deleting.abort();
      const main = run.containers[run.containers.length - 1];
      if (main && graceS > 0) await this.docker.getContainer(main).stop({ t: graceS }).catch(() => undefined);
      // removing them also ends the run loop's waits on them
      for (const id of run.containers) await removeContainer(this.docker, id).catch(() => undefined);
      await run.done;
      // a container the loop created while we removed the others
      for (const id of run.containers) await removeContainer(this.docker, id).catch(() => undefined);
      for (const v of run.volumes) await this.docker.getVolume(v).remove().catch(() => undefined);
      this.runs.delete(`${ns}/${name}`);
    }
    this.store.remove('pods', ns, name);
  }

  async close(): Promise<void> {
    for (const run of [...this.runs.values()]) await this.delete(run.ns, run.name, 0);
  }

  // ---------------------------------------------------------------- the run

  private async run(run: PodRun): Promise<void> {
    const pod = this.store.get('pods', run.ns, run.name)!;
    const spec = pod.spec;
    const inits: Container[] = spec.initContainers ?? [];
    const main: Container = spec.containers[0];
    if (spec.containers.length !== 1) throw new Error('stand-in: only pods with exactly one container are supported');
    this.update(run, (st) => {
      st.phase = 'Pending';
      st.hostIP = '127.0.0.1';
      st.podIP = run.ip;
      st.podIPs = [{ ip: run.ip }];
      st.startTime = new Date().toISOString();
      st.conditions = [cond('PodScheduled', 'True'), cond('Initialized', inits.length ? 'False' : 'True'), cond('ContainersReady', 'False'), cond('Ready', 'False')];
      st.initContainerStatuses = inits.map((c) => status(c, { waiting: { reason: 'PodInitializing' } }));
      st.containerStatuses = [status(main, { waiting: { reason: inits.length ? 'PodInitializing' : 'ContainerCreating' } })];
    });
    // images: every container's, and the image volumes'
    for (const c of [...inits, main]) await this.pullWithBackoff(run, c.image, c.name);
    for (const v of spec.volumes ?? []) if (v.image) await this.pullWithBackoff(run, v.image.reference, main.name);
    const mounts = await this.volumes(run, spec);
    for (const c of inits) {
      if (run.deleting.signal.aborted) return;
      const id = await this.startOrSay(run, c, mounts, false);
      if (!id) return;
      this.update(run, (st) => (st.initContainerStatuses.find((s: { name: string }) => s.name === c.name).state = { running: { startedAt: new Date().toISOString() } }));
      const { StatusCode } = (await this.docker.getContainer(id).wait()) as { StatusCode: number };
      if (run.deleting.signal.aborted) return;
      const terminated = { exitCode: StatusCode, reason: StatusCode === 0 ? 'Completed' : 'Error' };
      this.update(run, (st) => (st.initContainerStatuses.find((s: { name: string }) => s.name === c.name).state = { terminated }));
      if (StatusCode !== 0) return this.update(run, (st) => (st.phase = 'Failed'));
    }
    if (inits.length) this.update(run, (st) => (st.conditions.find((x: { type: string }) => x.type === 'Initialized').status = 'True'));
    if (run.deleting.signal.aborted) return;
    const id = await this.startOrSay(run, main, mounts, true);
    if (!id) return;
    this.update(run, (st) => {
      st.phase = 'Running';
      st.containerStatuses = [status(main, { running: { startedAt: new Date().toISOString() } })];
    });
    const exited = this.docker
      .getContainer(id)
      .wait()
      .then((r: { StatusCode: number }) => r.StatusCode);
    let exitCode: number | undefined;
    void exited.then((code) => (exitCode = code), () => undefined);
    const probe = main.readinessProbe?.httpGet;
    const periodMs = (main.readinessProbe?.periodSeconds ?? 10) * 1000;
    let ready = !probe;
    if (ready) this.setReady(run, true);
    while (!run.deleting.signal.aborted && exitCode === undefined) {
      if (probe && !ready && (await healthOk(run.ip, Number(probe.port)))) {
        ready = true;
        this.setReady(run, true);
      }
      await Promise.race([sleep(ready ? 200 : periodMs, run.deleting.signal), exited.catch(() => undefined)]);
    }
    if (run.deleting.signal.aborted || exitCode === undefined) return;
    this.update(run, (st) => {
      st.phase = exitCode === 0 ? 'Succeeded' : 'Failed';
      st.containerStatuses = [status(main, { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' } })];
      for (const c of st.conditions) if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = 'False';
    });
  }

  private setReady(run: PodRun, ready: boolean): void {
    this.update(run, (st) => {
      st.containerStatuses[0].ready = ready;
      for (const c of st.conditions) if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = ready ? 'True' : 'False';
    });
  }

  /** `docker pull` until it works or the pod is deleted, saying ErrImagePull / ImagePullBackOff meanwhile. */
  private async pullWithBackoff(run: PodRun, ref: string, container: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (run.deleting.signal.aborted) return;
      const problem = await this.ensureImage(ref);
      if (!problem) return;
      const message = `failed to pull and unpack image "${ref}": ${problem}`;
      this.waiting(run, container, 'ErrImagePull', message);
      await sleep(500, run.deleting.signal);
      this.waiting(run, container, 'ImagePullBackOff', `Back-off pulling image "${ref}": ErrImagePull: ${message}`);
      await sleep(PULL_BACKOFF_MS[Math.min(attempt, PULL_BACKOFF_MS.length - 1)]!, run.deleting.signal);
    }
  }

  /** undefined when the image is there (now); else why not. */
  private async ensureImage(ref: string): Promise<string | undefined> {
    try {
      await this.docker.getImage(ref).inspect();
      return undefined;
    } catch (err) {
      if (statusOf(err) !== 404) return dockerMessage(err);
    }
    try {
      const stream = await this.docker.pull(ref);
      let failure: string | undefined;
      for await (const chunk of stream as AsyncIterable<Buffer>)
        for (const line of chunk.toString().split('\n')) {
          const m = line.trim() ? (JSON.parse(line) as { error?: string }) : {};
          if (m.error) failure = m.error;
        }
      return failure;
    } catch (err) {
      return dockerMessage(err);
    }
  }

  private waiting(run: PodRun, container: string, reason: string, message: string): void {
    this.update(run, (st) => {
      const s = [...st.initContainerStatuses, ...st.containerStatuses].find((x: { name: string }) => x.name === container);
      if (s) s.state = { waiting: { reason, message } };
    });
  }

  /** Docker mounts for each pod volume name. */
  private async volumes(run: PodRun, spec: Obj['spec']): Promise<Map<string, { volumesFrom?: string; volume?: string }>> {
    const out = new Map<string, { volumesFrom?: string; volume?: string }>();
    for (const v of spec.volumes ?? []) {
      if (v.image) {
        const info = await this.docker.getImage(v.image.reference).inspect();
        out.set(v.name, { volumesFrom: await ensureCarrier(this.docker, info.Id, v.image.reference, this.runLabels) });
      } else if (v.emptyDir) {
        const name = `agentix-stand-in-${run.name}-${v.name}`;
        await this.docker.createVolume({ Name: name, Labels: { ...this.runLabels, [POD_LABEL]: `${run.ns}.${run.name}` } });
        run.volumes.push(name);
        out.set(v.name, { volume: name });
      } else throw new Error(`stand-in: volume ${v.name}: only image and emptyDir volumes are supported`);
    }
    return out;
  }

  /** Creates and starts a container; on failure says so in its status as a kubelet would, and returns undefined. */
  private async startOrSay(run: PodRun, c: Container, mounts: Map<string, { volumesFrom?: string; volume?: string }>, main: boolean): Promise<string | undefined> {
    try {
      return await this.createContainer(run, c, mounts, main);
    } catch (err) {
      const reason = (err as { reason?: string }).reason ?? (statusOf(err) !== undefined ? 'RunContainerError' : 'CreateContainerError');
      this.waiting(run, c.name, reason, dockerMessage(err));
      return undefined;
    }
  }

  private async createContainer(run: PodRun, c: Container, mounts: Map<string, { volumesFrom?: string; volume?: string }>, main: boolean): Promise<string> {
    const pod = this.store.get('pods', run.ns, run.name)!;
    const env = await this.envOf(run, c);
    const volumesFrom: string[] = [];
    const binds: Docker.MountSettings[] = [];
    for (const m of c.volumeMounts ?? []) {
      const v = mounts.get(m.name);
      if (!v) throw new Error(`stand-in: container ${c.name} mounts unknown volume ${m.name}`);
      if (v.volumesFrom) {
        if (m.mountPath !== '/nix' || m.subPath !== 'nix') throw new Error(`stand-in: an image volume can only be mounted as the bundle's /nix (mountPath /nix, subPath nix), got ${m.mountPath} subPath ${m.subPath}`);
        volumesFrom.push(`${v.volumesFrom}:${m.readOnly ? 'ro' : 'rw'}`);
      } else binds.push({ Type: 'volume', Source: v.volume!, Target: m.mountPath, ReadOnly: !!m.readOnly });
    }
    const user = c.securityContext?.runAsUser !== undefined ? `${c.securityContext.runAsUser}${c.securityContext.runAsGroup !== undefined ? `:${c.securityContext.runAsGroup}` : ''}` : undefined;
    // every container port of the main container, each on the pod's own loopback address
    const ports: number[] = main ? (c.ports ?? []).map((p: { containerPort: number }) => p.containerPort) : [];
    const limits = c.resources?.limits ?? {};
    const body = {
      Image: c.image,
      Entrypoint: c.command,
      Cmd: c.args ?? [],
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: c.workingDir,
      User: user,
      Labels: { ...this.runLabels, [POD_LABEL]: `${run.ns}.${run.name}` },
      ExposedPorts: ports.length ? Object.fromEntries(ports.map((p) => [`${p}/tcp`, {}])) : undefined,
      HostConfig: {
        VolumesFrom: volumesFrom,
        Mounts: binds,
        Init: !!pod.spec.shareProcessNamespace,
        PortBindings: ports.length ? Object.fromEntries(ports.map((p) => [`${p}/tcp`, [{ HostIp: run.ip, HostPort: String(p) }]])) : undefined,
        NetworkMode: ports.length ? undefined : 'none',
        NanoCpus: limits.cpu ? Math.round(cpuCores(limits.cpu) * 1e9) : undefined,
        Memory: limits.memory ? Number(limits.memory) : undefined,
      },
    };
    const container = await this.docker.createContainer(body as unknown as Docker.ContainerCreateOptions);
    run.containers.push(container.id);
    await container.start();
    return container.id;
  }

  private async envOf(run: PodRun, c: Container): Promise<Record<string, string>> {
    const secret = (name: string) => {
      const s = this.store.get('secrets', run.ns, name);
      // a real kubelet retries (CreateContainerConfigError); the backend creates the secret first
      if (!s) throw Object.assign(new Error(`secret "${name}" not found`), { reason: 'CreateContainerConfigError' });
      return s;
    };
    const env: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      const s = secret(from.secretRef.name);
      for (const [k, v] of Object.entries((s.data ?? {}) as Record<string, string>)) env[`${from.prefix ?? ''}${k}`] = Buffer.from(v, 'base64').toString();
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) env[e.name] = Buffer.from(secret(e.valueFrom.secretKeyRef.name).data[e.valueFrom.secretKeyRef.key], 'base64').toString();
    }
    return env;
  }

  private fail(run: PodRun, reason: string, message: string): void {
    this.update(run, (st) => {
      st.phase = 'Failed';
      st.reason = reason;
      st.message = message;
    });
  }

  /** Changes a pod's status in the store (a MODIFIED event), unless it is being deleted. */
  private update(run: PodRun, change: (status: Obj['status']) => void): void {
    const pod = this.store.get('pods', run.ns, run.name);
    if (!pod || run.deleting.signal.aborted) return;
    const copy = structuredClone(pod);
    copy.status ??= {};
    change(copy.status);
    this.store.put('pods', copy, 'MODIFIED');
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Container = Record<string, any> & { name: string; image: string };

function cond(type: string, statusValue: string) {
  return { type, status: statusValue, lastTransitionTime: new Date().toISOString() };
}

function status(c: Container, state: Record<string, unknown>) {
  return { name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false, state };
}

/** "500m" → 0.5, "2" → 2. */
function cpuCores(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
