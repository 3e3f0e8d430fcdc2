/**
 * The bundle's environment rule, as a small preload file written into every
 * bundle (`/nix/runtime/app/runtime/sandbox-env.js`, loaded with `node
 * --import` by the server and, through its exec flags, by every worker):
 *
 *   - PATH: the task image's own (what the container got from the image or
 *     the deployment) first, `/nix/runtime/bin` appended so the bundle's tools
 *     fill the gaps; an image without PATH gets the usual default first;
 *   - the bundle's tool variables (e.g. GIT_EXEC_PATH), unless already set;
 *   - AGENTIX_WORKER_ENTRY: the bundled server's supervisor lives in a chunk
 *     (chunks/*.js), so it cannot find the worker next to its own module name.
 *
 * It runs inside the sandbox because only there are the task image's PATH and
 * the bundle's contents both known: a Kubernetes backend sees neither before
 * the pod starts, and Docker's would have to inspect both images for it.
 */
import { APP_RUNTIME_DIR, RUNTIME_BIN } from './layout.js';

/** What Docker (and most distributions) use when an image sets no PATH. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The preload's source for a bundle whose tools need `toolEnv`. */
export function sandboxEnvSource(toolEnv: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.entries(toolEnv).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `// agentix build: the bundle's environment rule (bundle/sandbox-env.ts), applied before the runtime starts.
const env = process.env;
const bin = ${JSON.stringify(RUNTIME_BIN)};
const path = env.PATH ? env.PATH.split(':') : ${JSON.stringify(DEFAULT_PATH)}.split(':');
if (!path.includes(bin)) env.PATH = [...path, bin].join(':');
for (const [name, value] of Object.entries(${JSON.stringify(sorted)})) if (env[name] === undefined) env[name] = value;
if (!env.AGENTIX_WORKER_ENTRY) env.AGENTIX_WORKER_ENTRY = ${JSON.stringify(`${APP_RUNTIME_DIR}/worker-main.js`)};
`;
}
