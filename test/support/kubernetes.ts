/**
 * Test helpers for the Kubernetes backend against the stand-in API server
 * (test/support/stand-in/): one stand-in per test file, deployments pointed
 * at it through an ordinary kubeconfig (KUBECONFIG), and the checks that
 * nothing of a run is left in the stand-in or the engine.
 *
 *   const k = await standInOrSkip('kubernetes', labels);     // undefined: no engine (printed)
 *   const d = k8sDeployment(k.standIn, { AGENTIX_K8S_INJECT: 'copy' });
 */
import type Docker from 'dockerode';
import { KubernetesDeployment } from '../../deploy/kubernetes.js';
import { engineOrSkip } from './docker.js';
import { withEnv } from './env.js';
import { startStandIn, type StandIn, type StandInOptions } from './stand-in/server.js';

export type { StandIn } from './stand-in/server.js';

/** Variables of the host's own cluster setup that must not leak into a test's deployment. */
const CLUSTER_ENV = ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'AGENTIX_K8S_NAMESPACE', 'AGENTIX_K8S_INJECT', 'AGENTIX_K8S_CONNECT', 'AGENTIX_K8S_RUNTIME_CLASS', 'AGENTIX_K8S_IMAGE_PULL_SECRETS', 'AGENTIX_K8S_QPS', 'AGENTIX_K8S_BURST'];

/** A stand-in on the local engine, or undefined after printing why not (CI=true: no engine is an error). */
export async function standInOrSkip(area: string, runLabels: Record<string, string>, opts: Partial<StandInOptions> = {}): Promise<{ docker: Docker; standIn: StandIn } | undefined> {
  const docker = await engineOrSkip(area);
  if (!docker) return undefined;
  return { docker, standIn: await startStandIn({ docker, runLabels, ...opts }) };
}

/** A KubernetesDeployment configured, as a user's would be, by KUBECONFIG and the AGENTIX_K8S_* variables. */
export function k8sDeployment(standIn: StandIn, env: Record<string, string> = {}): KubernetesDeployment {
  const cleared = Object.fromEntries(CLUSTER_ENV.map((k) => [k, undefined]));
  return withEnv({ ...cleared, KUBECONFIG: standIn.kubeconfig, ...env }, () => new KubernetesDeployment());
}

/** Docker containers and volumes still carrying `label=value`. */
export async function engineLeftovers(docker: Docker, label: string, value: string): Promise<string[]> {
  const filters = { label: [`${label}=${value}`] };
  const containers = await docker.listContainers({ all: true, filters });
  const { Volumes } = await docker.listVolumes({ filters });
  return [...containers.map((c) => `container ${c.Names[0] ?? c.Id}`), ...(Volumes ?? []).map((v) => `volume ${v.Name}`)];
}

/** Pods and secrets the stand-in still holds. */
export function clusterLeftovers(standIn: StandIn): string[] {
  return [...standIn.store.all('pods').map((p) => `pod ${p.metadata.name}`), ...standIn.store.all('secrets').map((s) => `secret ${s.metadata.name}`)];
}
