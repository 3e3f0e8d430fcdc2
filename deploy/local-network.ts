/**
 * `network: 'none'` for the local deployment. A process cannot give up its
 * network without privileges; `unshare --net` (util-linux) starts it in a new
 * network namespace with nothing but a loopback that is down, which needs
 * root (CAP_SYS_ADMIN). Where that works the server runs under it and
 * listens on a Unix socket (the filesystem is shared, the network is not);
 * where it does not, `'none'` is refused rather than silently ignored.
 */
import { spawnSync } from 'node:child_process';
import { searchPath } from '../runtime/executable-path.js';
import { AgentixError } from '../runtime/wire/errors.js';

const PROBE_MS = 5_000;
let probed: string | undefined | null = null;
/** Where `unshare` is on the host's PATH (found once): the server is spawned with the sandbox's env, whose PATH may not have it. */
let unsharePath = 'unshare';

/** Why `unshare --net` cannot be used here, or undefined when it works (probed once per process). */
export function unshareProblem(): string | undefined {
  if (probed !== null) return probed;
  unsharePath = searchPath('unshare', process.env.PATH ?? '') ?? 'unshare';
  const r = spawnSync(unsharePath, ['--net', '--', 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: PROBE_MS, encoding: 'utf8' });
  if (r.error) probed = `unshare is not available (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  else if (r.status !== 0) probed = `unshare --net failed: ${(r.stderr || `exit ${r.status}`).trim()}`;
  else probed = undefined;
  return probed;
}

/** The command prefix that runs a process without network, or throws why the local deployment cannot. */
export function noNetworkPrefix(): string[] {
  const problem = unshareProblem();
  if (problem)
    throw new AgentixError(
      'INVALID_ARGUMENT',
      `invalid SandboxConfig: \`network: "none"\` needs \`unshare --net\` on the local deployment (root, or CAP_SYS_ADMIN), and ${problem}; use the docker deployment for sandboxes without network`,
    );
  return [unsharePath, '--net', '--'];
}
