/**
 * What user code inside a sandbox imports as 'agentix': the call context and
 * the Channel type. Bundles alias 'agentix' to this file (bundle/compile.ts).
 */
export { currentSignal, currentCall } from './context.js';
export type { CallContext } from './context.js';
export type { Channel } from './channel.js';
export { RemoteError, AgentixError } from './wire/errors.js';
