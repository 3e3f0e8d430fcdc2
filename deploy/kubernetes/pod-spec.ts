/**
 * The objects one sandbox is made of, as plain data (no API calls here, so
 * the tests validate exactly these against the Kubernetes OpenAPI schema):
 *
 *   Secret  <name>   the token's delivery (shared/token.ts), immutable; the pod imports it with envFrom
 *   Pod     <name>   the task image as the one container, started with the bundle's ENTRYPOINT;
 *                    the bundle's /nix mounted read-only at /nix by
 *                      inject=image  an image volume of the bundle (subPath nix; Kubernetes 1.33+ behind
 *                                    the ImageVolume gate, on by default from 1.35)
 *                      inject=copy   an emptyDir that an init container from the bundle image fills first
 */
import { NIX_ROOT, NODE_PATH, ENTRYPOINT, SANDBOX_PORT } from '../../bundle/layout.js';
import { AgentixError } from '../../runtime/wire/errors.js';
import { numericUser } from '../shared/config.js';
import type { SandboxConfig } from '../types.js';
import type { InjectMode } from './settings.js';

/** The runtime server's own SIGTERM grace (runtime/server.ts, AGENTIX_SHUTDOWN_GRACE_MS default) plus a second. */
export const TERMINATION_GRACE_S = 6;
export const CONTAINER_NAME = 'sandbox';
export const COPY_CONTAINER_NAME = 'agentix-bundle';
export const NIX_VOLUME = 'agentix-nix';
/** Where the init container sees the emptyDir it fills (the bundle's own /nix is its source). */
export const COPY_TARGET = '/agentix-nix';
/**
 * The init container's command: the bundle's own node copies /nix (symlinks
 * as they are, modes kept), so the copy needs no shell or coreutils in the
 * bundle (`--tools none` bundles have neither).
 */
export const COPY_SCRIPT = `require('node:fs').cpSync(${JSON.stringify(NIX_ROOT)}, ${JSON.stringify(COPY_TARGET)}, { recursive: true, verbatimSymlinks: true })`;

export interface SandboxObjects {
  secret: Record<string, unknown>;
  pod: Record<string, unknown>;
}

export interface PodInputs {
  name: string;
  namespace: string;
  config: SandboxConfig;
  inject: InjectMode;
  /** Environment for the runtime (shared/runtime-env.ts), without the token. */
  env: Record<string, string>;
  /** What delivers the token (shared/token.ts), stored in the Secret. */
  tokenEnv: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeClass?: string;
  imagePullSecrets: string[];
}

export function sandboxObjects(p: PodInputs): SandboxObjects {
  const metadata = { name: p.name, namespace: p.namespace, labels: p.labels, annotations: p.annotations };
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata,
    type: 'Opaque',
    // immutable: the kubelet need not watch it (a real saving with thousands of pods)
    immutable: true,
    data: Object.fromEntries(Object.entries(p.tokenEnv).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
  const resources = resourcesOf(p.config);
  const securityContext = securityOf(p.config);
  const nixMount = { name: NIX_VOLUME, mountPath: NIX_ROOT, readOnly: true, ...(p.inject === 'image' ? { subPath: NIX_ROOT.slice(1) } : {}) };
  const container = {
    name: CONTAINER_NAME,
    image: p.config.image,
    imagePullPolicy: 'IfNotPresent',
    command: [...ENTRYPOINT],
    env: Object.entries(p.env).map(([name, value]) => ({ name, value })),
    envFrom: [{ secretRef: { name: p.name } }],
    ...(p.config.workdir ? { workingDir: p.config.workdir } : {}),
    ports: [{ name: 'agentix', containerPort: SANDBOX_PORT, protocol: 'TCP' }, ...(p.config.ports ?? []).map((port) => ({ name: `p${port}`, containerPort: port, protocol: 'TCP' }))],
    // the kubelet polls the same route the Docker backend does; the pod is Ready once it answers
    readinessProbe: { httpGet: { path: '/health', port: SANDBOX_PORT }, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    ...(resources ? { resources } : {}),
    ...(securityContext ? { securityContext } : {}),
    volumeMounts: [nixMount],
  };
  const initContainers =
    p.inject === 'copy'
      ? [
          {
            name: COPY_CONTAINER_NAME,
            image: p.config.bundle,
            imagePullPolicy: 'IfNotPresent',
            command: [NODE_PATH, '-e', COPY_SCRIPT],
            ...(resources ? { resources } : {}),
            ...(securityContext ? { securityContext } : {}),
            volumeMounts: [{ name: NIX_VOLUME, mountPath: COPY_TARGET }],
          },
        ]
      : undefined;
  const volumes = [p.inject === 'image' ? { name: NIX_VOLUME, image: { reference: p.config.bundle, pullPolicy: 'IfNotPresent' } } : { name: NIX_VOLUME, emptyDir: {} }];
  const nodeSelector = platformSelector(p.config.platform);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      restartPolicy: 'Never',
      // user code must not inherit cluster credentials or the namespace's service addresses
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // the pause container becomes PID 1 and reaps the orphans killed commands leave (node as PID 1 would not):
      // what Docker's Init does for the Docker backend
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: TERMINATION_GRACE_S,
      // `lifetimeMs`: the kubelet ends the pod then, even if its host died (the runtime exits by itself too,
      // AGENTIX_LIFETIME_MS); `agentix gc` removes what is left, found by the agentix.expires-at label
      ...(p.config.lifetimeMs ? { activeDeadlineSeconds: Math.max(1, Math.ceil(p.config.lifetimeMs / 1000)) } : {}),
      ...(p.runtimeClass ? { runtimeClassName: p.runtimeClass } : {}),
      ...(p.imagePullSecrets.length ? { imagePullSecrets: p.imagePullSecrets.map((name) => ({ name })) } : {}),
      ...(nodeSelector ? { nodeSelector } : {}),
      ...(initContainers ? { initContainers } : {}),
      containers: [container],
      volumes,
    },
  };
  return { secret, pod };
}

/** Limits from `cpus` / `memoryBytes`, with requests equal to them (the Guaranteed QoS class). */
function resourcesOf(config: SandboxConfig): { limits: Record<string, string>; requests: Record<string, string> } | undefined {
  const limits: Record<string, string> = {};
  if (config.cpus !== undefined) limits.cpu = `${Math.max(1, Math.round(config.cpus * 1000))}m`;
  if (config.memoryBytes !== undefined) limits.memory = String(config.memoryBytes);
  return Object.keys(limits).length ? { limits, requests: { ...limits } } : undefined;
}

/** `user` as runAsUser/runAsGroup: Kubernetes takes numbers only (checked in checkK8sConfig). */
function securityOf(config: SandboxConfig): Record<string, number> | undefined {
  if (config.user === undefined) return undefined;
  const u = numericUser(config.user)!;
  return { runAsUser: u.uid, ...(u.gid !== undefined ? { runAsGroup: u.gid } : {}) };
}

/** `linux/arm64` → the well-known node labels, so the pod lands on a node of that platform. */
function platformSelector(platform: string | undefined): Record<string, string> | undefined {
  if (!platform) return undefined;
  const [os, arch] = platform.split('/');
  return { 'kubernetes.io/os': os!, ...(arch ? { 'kubernetes.io/arch': arch } : {}) };
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** What only Kubernetes refuses, said before anything is sent. */
export function checkK8sConfig(config: SandboxConfig): void {
  const bad = (what: string): never => {
    throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig for Kubernetes: ${what}`);
  };
  if (config.user !== undefined && !numericUser(config.user)) bad(`\`user\` must be numeric (uid or uid:gid) on Kubernetes, got ${JSON.stringify(config.user)}: a pod cannot name a user of its image`);
  // what the Kubernetes backend does not do (yet): refused rather than silently ignored
  if (config.network === 'none' || config.network === 'host')
    bad(`\`network: ${JSON.stringify(config.network)}\` is not supported on Kubernetes (only "default"): use a NetworkPolicy for a pod without egress, or the docker deployment`);
  if (config.workdir !== undefined && !config.workdir.startsWith('/')) bad(`\`workdir\` must be an absolute path, got ${JSON.stringify(config.workdir)}`);
  for (const [k, v] of Object.entries(config.labels ?? {})) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
    const name = slash >= 0 ? k.slice(slash + 1) : k;
    if (!LABEL_NAME.test(name) || name.length > 63 || (prefix !== undefined && (!DNS_SUBDOMAIN.test(prefix) || prefix.length > 253)))
      bad(`label key ${JSON.stringify(k)} is not a valid Kubernetes label key ([prefix/]name, name at most 63 of A-Z a-z 0-9 - _ .)`);
    if (v !== '' && (!LABEL_NAME.test(v) || v.length > 63)) bad(`label ${k}=${JSON.stringify(v)}: the value is not a valid Kubernetes label value (at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends)`);
  }
}
