/**
 * Which cluster: found the way kubectl and client-go find it, and refused at
 * once (in the deployment's constructor) when there is none, naming every
 * place that was looked at.
 *
 *   1. KUBECONFIG (one or more files, ':'-separated), when set
 *   2. in a pod: the service account (KUBERNETES_SERVICE_HOST + its token file)
 *   3. ~/.kube/config
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface Cluster {
  kc: KubeConfig;
  /** Namespace of the current context (or of the service account), if it names one. */
  namespace?: string;
  /** True when this process runs in a pod of the cluster (then pod IPs are reachable). */
  inCluster: boolean;
  /** Where the configuration came from, for messages. */
  source: string;
}

/** True when `server` is the API server of the cluster this pod runs in (its service address or DNS name). */
function sameCluster(server: string, env: NodeJS.ProcessEnv): boolean {
  let host: string;
  try {
    host = new URL(server).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  return host === env.KUBERNETES_SERVICE_HOST || /^kubernetes\.default(\.svc(\.cluster\.local)?)?$/.test(host);
}

export function loadCluster(env: NodeJS.ProcessEnv = process.env): Cluster {
  const kc = new KubeConfig();
  const inPod = !!env.KUBERNETES_SERVICE_HOST && existsSync(join(SERVICE_ACCOUNT, 'token'));
  const fromFiles = (files: string[], source: string): Cluster => {
    for (const f of files) if (!existsSync(f)) throw new Error(`${source}: ${f} does not exist`);
    try {
      if (files.length === 1) kc.loadFromFile(files[0]!);
      else {
        // client-node merges several files as kubectl does
        kc.loadFromDefault();
      }
    } catch (err) {
      throw new Error(`${source}: cannot read the kubeconfig: ${(err as Error).message}`);
    }
    const context = kc.getContextObject(kc.getCurrentContext());
    if (!context) throw new Error(`${source}: the kubeconfig has no current context (kubectl config use-context NAME)`);
    const cluster = kc.getCurrentCluster();
    if (!cluster?.server) throw new Error(`${source}: context ${context.name} names no cluster with a server address`);
    // pod IPs are reachable only when the kubeconfig names the cluster this pod runs in
    return { kc, namespace: context.namespace || undefined, inCluster: inPod && sameCluster(cluster.server, env), source };
  };
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter(Boolean);
    return fromFiles(files, `KUBECONFIG=${env.KUBECONFIG}`);
  }
  if (inPod) {
    kc.loadFromCluster();
    const nsFile = join(SERVICE_ACCOUNT, 'namespace');
    const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() || undefined : undefined;
    return { kc, namespace, inCluster: true, source: 'the pod\'s service account' };
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFiles([home], home);
  throw new Error(
    `no Kubernetes cluster configured: KUBECONFIG is not set, this is not a pod (KUBERNETES_SERVICE_HOST is ${env.KUBERNETES_SERVICE_HOST ? 'set but ' + join(SERVICE_ACCOUNT, 'token') + ' is missing' : 'not set'}), and ${home} does not exist`,
  );
}
