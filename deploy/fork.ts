/**
 * `fork(deployment, sandbox, config)`: a new sandbox that starts from a
 * snapshot of a running one (its files as they are now); the original keeps
 * running. For branching a rollout at step k (tree search, best-of-n from a
 * midpoint) or resuming after a crash.
 *
 * Why the deployment and the config are arguments rather than remembered:
 * a Sandbox is plain data (id, URL, token) that backends return and users
 * serialize; it does not know what made it, and a hidden registry from
 * Sandbox objects to their creators would fail for a sandbox that came back
 * from JSON or from another process. The caller has both at hand (or the
 * pool has them: `fork(pool.deployment, sb, pool.config)`), and the config
 * argument is also where a fork differs from its original:
 * `fork(d, sb, { ...config, env: { BRANCH: '2' } })`.
 */
import { AgentixError } from '../runtime/wire/errors.js';
import type { Deployment, Sandbox, SandboxConfig } from './types.js';

/** A forked sandbox, and the snapshot image it started from (more forks can start from it too). */
export type ForkedSandbox = Sandbox & { snapshot: string };

/**
 * Snapshots `sandbox` (`deployment.snapshot`) and creates a new sandbox from
 * it with `config` (its `image` replaced by the snapshot). The snapshot
 * stays after the fork is deleted: remove it with
 * `deployment.deleteSnapshot(child.snapshot)` (on Docker, once the forks made
 * from it are deleted), else `agentix gc` removes it once its owner process is
 * gone. When the create fails, its error carries the snapshot's reference as
 * `snapshot` (to retry from, or to delete).
 */
export async function fork(deployment: Deployment, sandbox: Sandbox | string, config: SandboxConfig): Promise<ForkedSandbox> {
  if (!deployment || typeof deployment.create !== 'function') throw new AgentixError('INVALID_ARGUMENT', 'fork: the first argument must be the Deployment the sandbox runs on');
  const id = typeof sandbox === 'string' ? sandbox : sandbox && typeof sandbox === 'object' ? sandbox.id : undefined;
  if (typeof id !== 'string' || !id) throw new AgentixError('INVALID_ARGUMENT', `fork: the second argument must be a Sandbox (or its id), got ${JSON.stringify(sandbox)}`);
  if (!config || typeof config !== 'object') throw new AgentixError('INVALID_ARGUMENT', 'fork: the third argument must be the SandboxConfig the fork is created with (usually the original\'s)');
  if (typeof deployment.snapshot !== 'function')
    throw new AgentixError('INVALID_ARGUMENT', `fork: the ${backendName(deployment)} deployment cannot snapshot a sandbox (it has no snapshot()), so it cannot fork one; the docker and local deployments can`, {
      backend: backendName(deployment),
    });
  const snapshot = await deployment.snapshot(id);
  // Every field but `image` as given: in a container `workdir` is a path inside
  // the snapshot; the local backend runs a fork in its copy of the original's.
  let forked: Sandbox;
  try {
    forked = await deployment.create({ ...config, image: snapshot });
  } catch (err) {
    // The snapshot exists now (a Docker image can be gigabytes) and the caller never saw its
    // reference: without it a failed fork (a config the backend refuses, say) could be neither
    // removed nor retried from, and every retry made another.
    throw withSnapshot(err, snapshot);
  }
  return { ...forked, snapshot };
}

/** The create error, carrying `snapshot` (the reference the fork was to start from). */
function withSnapshot(err: unknown, snapshot: string): unknown {
  if (err && typeof err === 'object') {
    try {
      Object.defineProperty(err, 'snapshot', { value: snapshot, enumerable: true, configurable: true, writable: true });
      return err;
    } catch {
      // a frozen error: the caller gets it as it was
    }
  }
  return err;
}

/** `DockerDeployment` → `docker`: the name users pass to loadDeployment, when the class follows the convention. */
function backendName(deployment: Deployment): string {
  const cls = (deployment as { constructor?: { name?: string } }).constructor?.name;
  if (!cls || cls === 'Object') return 'given';
  const m = /^(.*)Deployment$/.exec(cls);
  return m && m[1] ? m[1].toLowerCase() : cls;
}
