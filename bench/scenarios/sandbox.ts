/**
 * Scenario 4: how long a sandbox takes from `create()` to its first answered
 * call, one after another and in a parallel wave, and how long `delete()`
 * takes. Docker only when an engine answers (`docker info`); the local
 * deployment always. Every sandbox created here is deleted, also on failure.
 *
 * Docker also gets its floor, measured in the same run on the same task
 * image: `docker run --rm <image> sh -c :` (the engine's own start, run and
 * removal of a container), one sample before each Agentix sandbox of the
 * sequential series, and a wave of as many `docker run`s at once right before
 * Agentix's wave, so both see the same load.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Deployment, SandboxConfig } from '../../deploy/types.js';
import { withTimeout } from '../lib/measure.js';
import type { Plan } from '../lib/plan.js';
import { copyBenchProject, type TempDir } from '../lib/project-copy.js';
import { percentile, round } from '../lib/stats.js';
import type { Distribution, DockerFloorFigures, SandboxBackendFigures, SandboxFigures } from '../report/types.js';
import { briefError } from '../lib/errors.js';
import { withDockerBundle } from '../lib/docker-bundle.js';

const pexec = promisify(execFile);
const BENCH_TAG = 'agentix-bench:latest';

export async function runSandboxes(plan: Plan, log: (s: string) => void): Promise<SandboxFigures> {
  const out: SandboxFigures = {};
  const project = copyBenchProject();
  try {
    out.docker = await dockerFigures(plan, project, log).catch((err) => ({ error: briefError(err) }));
    log('  local deployment');
    out.local = await measureBackend('local', { image: '', bundle: project.dir }, plan.localSandboxes, plan.localParallel)
      .catch((err) => ({ error: briefError(err) }));
  } finally {
    project.remove();
  }
  return out;
}

async function dockerFigures(plan: Plan, project: TempDir, log: (s: string) => void): Promise<SandboxBackendFigures | { skipped: string }> {
  return withDockerBundle(project, BENCH_TAG, log, async ({ image, built }) => {
    log(`  docker: ${plan.sandboxes} sandboxes on ${image} one after another (each after one docker run of it), then ${plan.sandboxParallel} docker runs and ${plan.sandboxParallel} sandboxes at once`);
    const floor = dockerRunFloor(image);
    const figures = await measureBackend('docker', { image, bundle: built.tag }, plan.sandboxes, plan.sandboxParallel, floor);
    figures.floor = floor.figures();
    figures.notes = [`task image ${image}`, `bundle ${built.tag} (${built.layers.map((l) => `${l.name} ${sizeText(l.size)}`).join(', ')})`];
    return figures;
  });
}

interface Timed { firstCallMs: number; id: string }

/** A floor sample taken beside each Agentix sample: one `docker run`, or a wave of them. */
interface Floor {
  one(): Promise<void>;
  wave(n: number): Promise<void>;
  figures(): DockerFloorFigures;
}

/** Label on the floor's containers, so a stray one (interrupted run) is recognisable as the bench's. */
const FLOOR_LABEL = 'agentix.bench=docker-run-floor';

function dockerRunFloor(image: string): Floor {
  const argv = ['run', '--rm', '--label', FLOOR_LABEL, image, 'sh', '-c', ':'];
  const samples: number[] = [];
  const errors: string[] = [];
  let parallel: DockerFloorFigures['parallel'];
  const run = async () => {
    const t0 = performance.now();
    await pexec('docker', argv, { timeout: 60_000 });
    return performance.now() - t0;
  };
  return {
    one: async () => {
      try { samples.push(await run()); } catch (err) { errors.push(briefError(err)); }
    },
    wave: async (n) => {
      const t0 = performance.now();
      const settled = await Promise.allSettled(Array.from({ length: n }, run));
      const wallMs = performance.now() - t0;
      const failed = settled.flatMap((x) => (x.status === 'rejected' ? [briefError(x.reason)] : []));
      parallel = failed.length ? { error: `${failed.length}/${n} failed: ${failed[0]}` } : { n, wallMs: round(wallMs) };
    },
    figures: () => ({
      command: `docker run --rm ${image} sh -c :`,
      sequential: samples.length ? distribution(samples) : { error: errors[0] ?? 'not run' },
      ...(parallel ? { parallel } : {}),
    }),
  };
}

async function measureBackend(name: 'docker' | 'local', config: SandboxConfig, sequential: number, parallel: number, floor?: Floor): Promise<SandboxBackendFigures> {
  const { loadDeployment } = await import('../../deploy/load.js');
  const Cls = await loadDeployment(name);
  const dep = new Cls();
  const figures: SandboxBackendFigures = {};
  const deletes: number[] = [];
  const createTimeout = (config.startupTimeoutMs ?? 60_000) + 30_000;

  const timedDelete = async (id: string) => {
    const t0 = performance.now();
    await withTimeout(dep.delete(id), 60_000, `delete ${id}`);
    deletes.push(performance.now() - t0);
  };

  try {
    const firsts: number[] = [];
    for (let i = 0; i < sequential; i++) {
      await floor?.one();
      const t = await createAndCall(dep, config, createTimeout);
      firsts.push(t.firstCallMs);
      await timedDelete(t.id);
    }
    figures.firstCall = distribution(firsts);
  } catch (err) {
    figures.firstCall = { error: briefError(err) };
  }

  if (parallel > 0) {
    await floor?.wave(parallel);
    const t0 = performance.now();
    const settled = await Promise.allSettled(Array.from({ length: parallel }, () => createAndCall(dep, config, createTimeout)));
    const wallMs = performance.now() - t0;
    const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.flatMap((s) => (s.status === 'rejected' ? [briefError(s.reason)] : []));
    await Promise.allSettled(ok.map((t) => timedDelete(t.id)));
    figures.parallel = failed.length ? { error: `${failed.length}/${parallel} failed: ${failed[0]}` } : { n: parallel, wallMs: round(wallMs), perSandbox: distribution(ok.map((t) => t.firstCallMs)) };
  }
  figures.delete = deletes.length ? distribution(deletes) : { error: 'no sandbox was deleted' };
  return figures;
}

/** The bench project's `run("hello")` through a fresh client, checked. */
export async function firstCall(sb: { runtimeUrl: string; token: string }): Promise<void> {
  const { RuntimeClient } = await import('../../runtime/client/client.js');
  const client = await RuntimeClient.connect(sb.runtimeUrl, { token: sb.token });
  try {
    const r = await client.call<string>('run', ['hello'], { timeoutMs: 30_000 });
    if (r !== 'hello') throw new Error(`run("hello") returned ${JSON.stringify(r)}`);
  } finally {
    await client.close();
  }
}

async function createAndCall(dep: Deployment, config: SandboxConfig, timeoutMs: number): Promise<Timed> {
  const t0 = performance.now();
  const sb = await withTimeout(dep.create(config), timeoutMs, 'create');
  try {
    await firstCall(sb);
    return { firstCallMs: performance.now() - t0, id: sb.id };
  } catch (err) {
    await dep.delete(sb.id).catch(() => {});
    throw err;
  }
}

export function distribution(ms: number[]): Distribution {
  const s = [...ms].sort((a, b) => a - b);
  return { p50Ms: round(percentile(s, 50)), p90Ms: round(percentile(s, 90)), maxMs: round(s[s.length - 1]), n: s.length };
}

const sizeText = (bytes: number) => (bytes >= 2 ** 20 ? `${round(bytes / 2 ** 20)} MiB` : `${round(bytes / 1024)} KiB`);
