/**
 * The Kubernetes backend's public face (`loadDeployment('kubernetes')`,
 * `agentix gc`, the tests and the bench import it from here). The parts live
 * in deploy/kubernetes/; what it shares with Docker in deploy/shared/.
 */
export { KubernetesDeployment } from './kubernetes/backend.js';
export { collectClusterGarbage } from './kubernetes/gc.js';
export { sandboxObjects, checkK8sConfig, TERMINATION_GRACE_S } from './kubernetes/pod-spec.js';
export type { PodInputs, SandboxObjects } from './kubernetes/pod-spec.js';
export { settingsFromEnv, defaultInject, DEFAULT_QPS, DEFAULT_BURST } from './kubernetes/settings.js';
export type { K8sSettings, InjectMode, ConnectMode } from './kubernetes/settings.js';
export { loadCluster } from './kubernetes/cluster.js';
export { RateLimiter } from './kubernetes/rate-limit.js';
