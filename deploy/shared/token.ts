/**
 * How a sandbox learns its token: the one place every backend asks. Today
 * the runtime server reads it from AGENTIX_TOKEN (runtime/server/main.ts);
 * should it move (to a file, say), this is where the delivery changes.
 * Docker puts the entries into the container's environment, Kubernetes into
 * the sandbox's Secret, which the pod imports whole (`envFrom`).
 */
import { randomToken } from '../../runtime/server/server.js';

export interface SandboxToken {
  token: string;
  /** Environment entries that hand the token to the runtime server. */
  env: Record<string, string>;
}

/** A fresh random token for one sandbox, with what delivers it. */
export function sandboxToken(): SandboxToken {
  const token = randomToken();
  return { token, env: { AGENTIX_TOKEN: token } };
}
