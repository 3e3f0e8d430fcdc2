/**
 * What every Docker scenario of the bench needs first: an engine that
 * answers, the busybox task image (made locally, as the docker tests make
 * it: no registry here) and the bench project built as a bundle image; and
 * afterwards nothing of it left in the engine (the carrier, its volume, the
 * image), also when the scenario fails.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { BuildResult } from '../../bundle/index.js';
import type { TempDir } from './project-copy.js';

const pexec = promisify(execFile);

export interface DockerBench {
  image: string;
  built: BuildResult;
}

/** Runs `fn` with a task image and the bundle of `project` tagged `tag`; `{ skipped }` without an engine. */
export async function withDockerBundle<T>(project: TempDir, tag: string, log: (s: string) => void, fn: (d: DockerBench) => Promise<T>): Promise<T | { skipped: string }> {
  try {
    await pexec('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 });
  } catch {
    return { skipped: 'no engine (`docker info` failed)' };
  }
  const support = await import('../../test/support/docker.js');
  const { dockerFromEnv } = await import('../../deploy/docker.js');
  const docker = dockerFromEnv();
  const image = await support.taskImage(docker, 'busybox');
  log(`  docker: building the bench bundle ${tag}`);
  const { buildBundle } = await import('../../bundle/index.js');
  const built = await buildBundle({ projectDir: project.dir, tag, load: true });
  try {
    return await fn({ image, built });
  } finally {
    await support.removeBundle(docker, built.imageId).catch((err: Error) => log(`  docker: clean-up of ${tag} failed: ${err.message}`));
  }
}
