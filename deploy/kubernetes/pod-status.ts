/**
 * Reading a pod's status: is it ready, has it failed for good, and if
 * neither, what is it doing (said in the error of a create that ran out of
 * time: unschedulable, an image that does not pull, an init container that
 * failed…). Works on the watch's raw JSON and the API's objects alike.
 */
import type { SandboxState } from '../types.js';
import { CONTAINER_NAME, COPY_CONTAINER_NAME } from './pod-spec.js';

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: unknown };
  terminated?: { reason?: string; message?: string; exitCode?: number; signal?: number };
}
interface ContainerStatus {
  name: string;
  ready?: boolean;
  state?: ContainerState;
  image?: string;
}
/** The part of a Pod this module reads. */
export interface PodView {
  metadata?: { name?: string; deletionTimestamp?: unknown; creationTimestamp?: unknown; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: { name: string; image?: string }[]; initContainers?: { name: string; image?: string }[] };
  status?: {
    phase?: string;
    podIP?: string;
    reason?: string;
    message?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

export type Readiness = { ready: true; podIP?: string } | { ready: false; failed?: string; doing: string };

/** Waiting reasons the kubelet will not get past by retrying. */
const HOPELESS = new Set(['InvalidImageName', 'ErrImageNeverPull', 'CreateContainerError', 'RunContainerError']);
const PULLING = new Set(['ErrImagePull', 'ImagePullBackOff', 'ImageInspectError', 'RegistryUnavailable', 'SignatureValidationFailed', 'PullImage']);

export function readiness(pod: PodView): Readiness {
  const st = pod.status ?? {};
  if (pod.metadata?.deletionTimestamp) return { ready: false, failed: 'the pod is being deleted (by someone else?)', doing: 'terminating' };
  const main = st.containerStatuses?.find((c) => c.name === CONTAINER_NAME);
  const init = st.initContainerStatuses?.find((c) => c.name === COPY_CONTAINER_NAME);
  if (st.phase === 'Failed' || st.phase === 'Succeeded') {
    const why = terminatedText(init, 'the init container that copies the bundle') ?? terminatedText(main, 'the runtime') ?? [st.reason, st.message].filter(Boolean).join(': ');
    return { ready: false, failed: `the pod ended (phase ${st.phase})${why ? `: ${why}` : ''}`, doing: `phase ${st.phase}` };
  }
  const ready = st.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  if (ready && st.phase === 'Running') return { ready: true, podIP: st.podIP };
  const doing = describe(pod, main, init);
  const hopeless = [init, main].map((c) => c?.state?.waiting?.reason).find((r) => r && HOPELESS.has(r));
  if (hopeless) return { ready: false, failed: doing, doing };
  // restartPolicy Never: a runtime that exited is not coming back
  if (main?.state?.terminated) return { ready: false, failed: terminatedText(main, 'the runtime')!, doing };
  if (init?.state?.terminated && init.state.terminated.exitCode !== 0) return { ready: false, failed: terminatedText(init, 'the init container that copies the bundle')!, doing };
  return { ready: false, doing };
}

/** What a pod that is not ready is doing, in words. */
function describe(pod: PodView, main: ContainerStatus | undefined, init: ContainerStatus | undefined): string {
  const st = pod.status ?? {};
  const scheduled = st.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') return `Pending, not scheduled: ${scheduled.reason ?? 'Unschedulable'}${scheduled.message ? `: ${scheduled.message}` : ''}`;
  for (const [c, what, image] of [
    [init, 'the init container that copies the bundle', pod.spec?.initContainers?.[0]?.image],
    [main, 'the task container', pod.spec?.containers?.[0]?.image],
  ] as const) {
    const w = c?.state?.waiting;
    if (!w || w.reason === 'PodInitializing') continue;
    if (w.reason && PULLING.has(w.reason)) return `Pending, image pull failed for ${what} (${image ?? c.image}): ${w.reason}${w.message ? `: ${w.message}` : ''}`;
    if (w.reason !== 'ContainerCreating') return `Pending, ${what} is waiting: ${w.reason ?? 'unknown reason'}${w.message ? `: ${w.message}` : ''}`;
  }
  if (init?.state?.running) return 'Pending, the init container is copying the bundle into the pod';
  if (main?.state?.running) return 'Running, but the readiness probe on /health has not passed yet';
  if (!scheduled) return `${st.phase ?? 'Pending'}, not yet scheduled`;
  return `${st.phase ?? 'Pending'}, containers being created`;
}

function terminatedText(c: ContainerStatus | undefined, what: string): string | undefined {
  const t = c?.state?.terminated;
  if (!t) return undefined;
  return `${what} exited with code ${t.exitCode ?? '?'}${t.signal ? ` (signal ${t.signal})` : ''}${t.reason ? ` (${t.reason})` : ''}${t.message ? `: ${t.message.trim()}` : ''}`;
}

/** The state `get()` reports for a pod. */
export function stateOf(pod: PodView): SandboxState {
  if (pod.metadata?.deletionTimestamp) return 'deleted';
  switch (pod.status?.phase) {
    case 'Pending':
      return 'creating';
    case 'Running':
      return 'running';
    case 'Succeeded':
    case 'Failed':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** True when a container of the pod ran (so it may have printed something worth showing). */
export function containerStarted(pod: PodView | undefined): { name: string } | undefined {
  const st = pod?.status;
  for (const c of [...(st?.containerStatuses ?? []), ...(st?.initContainerStatuses ?? [])]) if (c.state?.running || c.state?.terminated) return { name: c.name };
  return undefined;
}
