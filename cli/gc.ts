/**
 * `agentix gc`: removes the sandboxes a crashed host left behind, on the
 * Docker engine (with --all also the carriers no sandbox uses) and on the
 * Kubernetes cluster the environment configures (pods and their token
 * Secrets), found by their agentix.* labels. Prints one line per removed
 * container, pod, secret (or untagged bundle image).
 */
import type Docker from 'dockerode';
import { dockerFromEnv, pingEngine, statusOf } from '../bundle/docker-engine.js';
import { friendly } from '../bundle/project.js';
import { collectGarbage } from '../deploy/docker/gc.js';
import { localGarbage } from '../deploy/local-temp.js';
import { ownerMayLive } from '../deploy/shared/labels.js';
import type { Removed } from '../deploy/shared/removed.js';
import { parse } from './args.js';

const HELP = `usage: agentix gc [--all] [--force] [--dry-run] [--docker | --kubernetes]

Removes the agentix sandboxes whose owner process is gone, as a crashed host
leaves them: Docker containers with their anonymous volumes, Docker snapshot
images (deployment.snapshot), and Kubernetes pods with their token Secrets.
A sandbox past its lifetimeMs is removed whoever owns it. Also the local
deployment's temp directories (its snapshots) of host processes that are gone.

  --all         also remove every carrier no sandbox uses (Docker: the stopped
                container holding a bundle's /nix; the next sandbox creates it again)
  --force       also remove sandboxes and snapshots whose owner still runs, or
                runs on another host
  --dry-run     print what would be removed, remove nothing
  --docker      only the Docker engine (DOCKER_HOST)
  --kubernetes  only the cluster (KUBECONFIG, the pod's service account, or
                ~/.kube/config; namespace AGENTIX_K8S_NAMESPACE or the context's)

Without --docker or --kubernetes: the Docker engine if one answers, and the
cluster if one is configured. Without --all, a carrier is removed only when no
sandbox uses it and no tag names its bundle image any more (gone, or a rebuild
moved the tag); the bundle image it leaves untagged is removed with it.
`;

export async function main(argv: string[]): Promise<number> {
  const args = parse(
    'gc',
    argv,
    { all: { type: 'boolean' }, force: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, docker: { type: 'boolean' }, kubernetes: { type: 'boolean' } },
    HELP,
  );
  if (!args) return 0;
  const dryRun = !!args.values['dry-run'];
  // a sandbox stays while its owner still runs (or may: another host's pid cannot be checked), unless forced
  const keep = args.values.force ? undefined : ownerMayLive;
  const only = args.values.docker ? 'docker' : args.values.kubernetes ? 'kubernetes' : undefined;
  // both named: both, as without either
  const both = !only || (!!args.values.docker && !!args.values.kubernetes);

  const removed: Removed[] = [];
  const problems: string[] = [];
  let reached = 0;
  /** One backend: skipped when another was named; unreachable is an error only when it was named. */
  const sweep = async <T>(name: 'docker' | 'kubernetes', reach: () => Promise<T>, collect: (target: T) => Promise<Removed[]>) => {
    if (!both && only !== name) return;
    let target: T;
    try {
      target = await reach();
    } catch (err) {
      if (!both) throw friendly((err as Error).message);
      return void problems.push(`${name}: ${(err as Error).message}`);
    }
    reached++;
    removed.push(...(await collect(target)));
  };
  await sweep('docker', reachDocker, (docker) =>
    collectGarbage(docker, {
      carriers: true,
      dryRun,
      keep,
      // An unused carrier stays while a tag still names its bundle image. Not "while the image
      // exists": the carrier itself keeps a retagged image alive, so after every rebuild the old
      // carrier, its /nix volume and the dangling image would stay forever.
      keepCarrier: args.values.all ? undefined : (bundleId) => stillTagged(docker, bundleId),
    }),
  );
  await sweep('kubernetes', reachCluster, async (cluster) => {
    const { collectClusterGarbage } = await import('../deploy/kubernetes/gc.js');
    return collectClusterGarbage(cluster.api, cluster.namespace, { keep, dryRun });
  });
  // the local deployment's temp dirs (snapshots, their working copies) of processes that died without their exit hook
  removed.push(...localGarbage({ dryRun }));
  if (reached === 0) throw friendly(`gc: neither a Docker engine nor a Kubernetes cluster could be reached:\n  ${problems.join('\n  ')}`);

  const verb = dryRun ? 'would remove' : 'removed';
  for (const r of removed) process.stdout.write(`${verb} ${r.kind} ${r.name || r.id.slice(0, 12)}${r.bundle ? ` (bundle ${r.bundle})` : ''}${r.where && r.where !== 'docker' ? ` [${r.where}]` : ''}\n`);
  if (removed.length === 0) process.stdout.write('nothing to remove\n');
  return 0;
}

async function reachDocker(): Promise<Docker> {
  const d = dockerFromEnv();
  await pingEngine(d);
  return d;
}

/** The configured cluster, checked with one request (GET /version); the Kubernetes client loads only here. */
async function reachCluster() {
  const { KubernetesDeployment } = await import('../deploy/kubernetes/backend.js');
  const k8s = new KubernetesDeployment();
  await k8s.serverVersion();
  return { api: k8s.api, namespace: k8s.namespace };
}

/** True while a tag names the image; gone: false; the engine failing to say: true (keep rather than guess). */
async function stillTagged(docker: Docker, imageId: string): Promise<boolean> {
  if (!imageId) return false;
  try {
    const info = await docker.getImage(imageId).inspect();
    return (info.RepoTags ?? []).some((t) => t !== '<none>:<none>');
  } catch (err) {
    return statusOf(err) !== 404;
  }
}
