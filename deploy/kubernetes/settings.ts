/**
 * The Kubernetes backend's configuration, all from the environment (read once,
 * in the constructor, failing fast with the variable's name):
 *
 *   AGENTIX_K8S_NAMESPACE          namespace of the pods and secrets (default: the kubeconfig
 *                                  context's, in a pod its own, else "default")
 *   AGENTIX_K8S_INJECT             image | copy: how the bundle's /nix gets into the pod
 *                                  (default: image from Kubernetes 1.35 on, copy before)
 *   AGENTIX_K8S_CONNECT            port-forward | pod-ip (default: pod-ip inside a cluster,
 *                                  port-forward outside)
 *   AGENTIX_K8S_RUNTIME_CLASS      runtimeClassName of every pod (e.g. gvisor, kata)
 *   AGENTIX_K8S_IMAGE_PULL_SECRETS comma-separated Secret names for pulling the task and bundle images
 *   AGENTIX_K8S_QPS                client-side rate limit, requests per second (default 5, as client-go)
 *   AGENTIX_K8S_BURST              requests allowed at once above it (default 10, as client-go)
 */
export type InjectMode = 'image' | 'copy';
export type ConnectMode = 'port-forward' | 'pod-ip';

export interface K8sSettings {
  namespace?: string;
  /** undefined: chosen from the server version at the first create */
  inject?: InjectMode;
  connect?: ConnectMode;
  runtimeClass?: string;
  imagePullSecrets: string[];
  qps: number;
  burst: number;
}

/** client-go's defaults (rest.DefaultQPS, rest.DefaultBurst). */
export const DEFAULT_QPS = 5;
export const DEFAULT_BURST = 10;
/** Kubernetes turns the image volume source on by default from this version on. */
export const IMAGE_VOLUME_DEFAULT_FROM = { major: 1, minor: 35 };

/** A DNS-1123 label: names of namespaces, secrets, runtime classes. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): K8sSettings {
  const oneOf = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw new Error(`${name} must be ${allowed.map((a) => `"${a}"`).join(' or ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const name = (varName: string, v: string, re: RegExp, max: number): string => {
    if (!re.test(v) || v.length > max) throw new Error(`${varName}: ${JSON.stringify(v)} is not a valid Kubernetes name (lowercase letters, digits and '-', at most ${max})`);
    return v;
  };
  const positive = (varName: string, fallback: number, integer: boolean): number => {
    const v = env[varName];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`${varName} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    return n;
  };
  const namespace = env.AGENTIX_K8S_NAMESPACE ? name('AGENTIX_K8S_NAMESPACE', env.AGENTIX_K8S_NAMESPACE, DNS_LABEL, 63) : undefined;
  const runtimeClass = env.AGENTIX_K8S_RUNTIME_CLASS ? name('AGENTIX_K8S_RUNTIME_CLASS', env.AGENTIX_K8S_RUNTIME_CLASS, DNS_SUBDOMAIN, 253) : undefined;
  const imagePullSecrets = (env.AGENTIX_K8S_IMAGE_PULL_SECRETS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => name('AGENTIX_K8S_IMAGE_PULL_SECRETS', s, DNS_SUBDOMAIN, 253));
  const qps = positive('AGENTIX_K8S_QPS', DEFAULT_QPS, false);
  return {
    namespace,
    inject: oneOf('AGENTIX_K8S_INJECT', ['image', 'copy'] as const),
    connect: oneOf('AGENTIX_K8S_CONNECT', ['port-forward', 'pod-ip'] as const),
    runtimeClass,
    imagePullSecrets,
    qps,
    burst: positive('AGENTIX_K8S_BURST', DEFAULT_BURST, true),
  };
}

/** The inject mode a server of this version supports by default. */
export function defaultInject(version: { major: string; minor: string }): InjectMode {
  const major = Number.parseInt(version.major, 10);
  const minor = Number.parseInt(version.minor, 10); // "35+" on some providers
  if (!Number.isFinite(major) || !Number.isFinite(minor)) return 'copy';
  const from = IMAGE_VOLUME_DEFAULT_FROM;
  return major > from.major || (major === from.major && minor >= from.minor) ? 'image' : 'copy';
}
