/**
 * The environment a sandbox's runtime server starts with, whatever the
 * backend: the user's `env`, where to bind, and the token's delivery. What
 * depends on the bundle and the task image (PATH, the tools' variables, the
 * worker entry) is applied inside the sandbox by the bundle's preload
 * (bundle/sandbox-env.ts), so no backend needs to know it.
 */
import { SANDBOX_PORT } from '../../bundle/layout.js';
import type { SandboxConfig } from '../types.js';

export interface Bind {
  /** Port the runtime listens on inside the sandbox (default 8000). */
  port?: number;
  /** Address it binds (default 0.0.0.0: reachable through the container's published port). */
  host?: string;
  /** A Unix socket (path inside the sandbox) to listen on instead of a port (`network: 'none'`). */
  socket?: string;
}

/**
 * The user's env, then bind address and port (the user cannot move those: the
 * backend connects to them), and the lifetime after which the runtime exits by itself.
 */
export function runtimeEnv(config: SandboxConfig, bind: Bind = {}): Record<string, string> {
  return {
    ...config.env,
    AGENTIX_BIND_PORT: String(bind.port ?? SANDBOX_PORT),
    AGENTIX_BIND_HOST: bind.host ?? '0.0.0.0',
    ...(bind.socket ? { AGENTIX_BIND_SOCKET: bind.socket } : {}),
    ...(config.lifetimeMs ? { AGENTIX_LIFETIME_MS: String(config.lifetimeMs) } : {}),
  };
}
