/**
 * `agentix gc`: removes the Docker sandboxes a crashed host left behind (and,
 * with --all, the carriers no sandbox uses any more), found by their
 * agentix.* labels. Prints one line per removed container (or untagged bundle image).
 */
import { processAlive } from '../runtime/process-alive.js';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { collectGarbage, dockerFromEnv, LABELS, pingEngine, statusOf } from '../deploy/docker.js';
import { friendly } from '../bundle/project.js';
import { parse } from './args.js';

const HELP = `usage: agentix gc [--all] [--force] [--dry-run]

Removes the agentix sandboxes (Docker containers) whose owner process is gone,
as a crashed host leaves them, with their anonymous volumes.

  --all       also remove every carrier no sandbox uses (the stopped container
              holding a bundle's /nix; the next sandbox creates it again)
  --force     also remove sandboxes whose owner still runs, or runs on another host
  --dry-run   print what would be removed, remove nothing

Without --all, a carrier is removed only when no sandbox uses it and no tag
names its bundle image any more (gone, or a rebuild moved the tag); the bundle
image it leaves untagged is removed with it.
`;

export async function main(argv: string[]): Promise<number> {
  const args = parse('gc', argv, { all: { type: 'boolean' }, force: { type: 'boolean' }, 'dry-run': { type: 'boolean' } }, HELP);
  if (!args) return 0;
  const docker = await (async () => {
    try {
      const d = dockerFromEnv();
      await pingEngine(d);
      return d;
    } catch (err) {
      throw friendly((err as Error).message);
    }
  })();
  const all = !!args.values.all;
  const force = !!args.values.force;
  const here = hostname();
  const removed = await collectGarbage(docker, {
    carriers: true,
    dryRun: !!args.values['dry-run'],
    // a sandbox stays while its owner still runs (or may: another host's pid cannot be checked), unless forced
    keep: force ? undefined : (labels) => labels[LABELS.ownerHost] !== here || ownerAlive(labels[LABELS.ownerPid]),
    // An unused carrier stays while a tag still names its bundle image. Not "while the image
    // exists": the carrier itself keeps a retagged image alive, so after every rebuild the old
    // carrier, its /nix volume and the dangling image would stay forever.
    keepCarrier: all ? undefined : (bundleId) => stillTagged(docker, bundleId),
  });
  const verb = args.values['dry-run'] ? 'would remove' : 'removed';
  for (const r of removed) process.stdout.write(`${verb} ${r.kind} ${r.name || r.id.slice(0, 12)}${r.bundle ? ` (bundle ${r.bundle})` : ''}\n`);
  if (removed.length === 0) process.stdout.write('nothing to remove\n');
  return 0;
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

function ownerAlive(pid: string | undefined): boolean {
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return false;
  return processAlive(n);
}
