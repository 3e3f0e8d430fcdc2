/**
 * The Docker backend's public face (`loadDeployment('docker')`, `agentix gc`,
 * the tests and the bench import it from here). The parts live in
 * deploy/docker/ (backend, carriers, gc, logs), the engine client in
 * bundle/docker-engine.ts, and what every backend shares in deploy/shared/.
 */
export { DockerDeployment } from './docker/backend.js';
export { carrierName, ensureCarrier } from './docker/carrier.js';
export { collectGarbage, removeContainer } from './docker/gc.js';
export { demuxLogs } from './docker/logs.js';
export { dockerFromEnv, dockerMessage, engineAddress, pingEngine, statusOf } from '../bundle/docker-engine.js';
export { isUntaggedBundle, removeUntaggedBundle } from '../bundle/images.js';
export { BUNDLE_ENV_LABEL } from '../bundle/layout.js';
export { LABELS } from './shared/labels.js';
export type { Removed } from './shared/removed.js';
