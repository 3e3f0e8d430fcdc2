/**
 * The `agentix` package. Host side: RuntimeClient, errors, deployments.
 * Sandbox side (user code): `Channel`, `currentSignal`.
 * Heavy parts (the compiler, dockerode, the bundler) are loaded only by the
 * commands and deployments that need them.
 */
export { RuntimeClient } from './runtime/client/client.js';
export type { CallOptions, ConnectOptions, LogEvent, RemoteClient, RemoteStream, BidiCall } from './runtime/client/client.js';
export { RemoteError, AgentixError } from './runtime/wire/errors.js';
export type { ErrorCode, ErrorData, Shape } from './runtime/wire/protocol.js';
export type { Channel } from './runtime/channel.js';
export { currentSignal, currentCall } from './runtime/context.js';
export type { CallContext } from './runtime/context.js';
export type { Manifest, TargetInfo, ParamInfo } from './runtime/manifest.js';
export { RuntimeServer } from './runtime/server/server.js';
export type { ServerOptions } from './runtime/server/server.js';
export { session } from './deploy/session.js';
export { loadDeployment } from './deploy/load.js';
export { createPool } from './deploy/pool.js';
export type { Pool, PoolOptions, PoolStats, ClaimOptions } from './deploy/pool.js';
export { fork } from './deploy/fork.js';
export type { ForkedSandbox } from './deploy/fork.js';
export type { Deployment, DeploymentClass, DockerDeploymentClass, DockerDeploymentOptions, Sandbox, SandboxConfig, SandboxInfo, SandboxState } from './deploy/types.js';
export type { BuildOptions, BuildResult } from './bundle/index.js';

/** `agentix build` as a function; the bundler (esbuild, tar-stream, dockerode) loads only when called. */
export async function buildBundle(opts: import('./bundle/index.js').BuildOptions): Promise<import('./bundle/index.js').BuildResult> {
  return (await import('./bundle/index.js')).buildBundle(opts);
}
