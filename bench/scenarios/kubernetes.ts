/**
 * Scenario 6: the Kubernetes backend against the stand-in API server
 * (test/support/stand-in/, pods run on the local Docker engine):
 *
 *   - API requests per sandbox (create, reach, first call, delete), by kind,
 *     and what a wave shares (the version check, one LIST, the WATCH);
 *   - the backend's own time from `create()` called to `create()` returned
 *     (the pod Ready and its /health answered through the port-forward),
 *     one sandbox at a time and for a wave created at once;
 *   - how long the client-side rate limit (AGENTIX_K8S_QPS, default 5 with
 *     burst 10 as client-go) held the wave's requests back.
 *
 * The stand-in's pods are Docker containers, so these times are this
 * machine's engine plus the backend, not a cluster's scheduler and kubelet.
 * Everything made is removed, also on failure. Skipped without an engine.
 */
import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Plan } from '../lib/plan.js';
import { briefError } from '../lib/errors.js';
import { withTimeout } from '../lib/measure.js';
import { copyBenchProject } from '../lib/project-copy.js';
import { round } from '../lib/stats.js';
import { distribution, firstCall } from './sandbox.js';
import type { KubernetesDeployment } from '../../deploy/kubernetes.js';
import type { SandboxConfig } from '../../deploy/types.js';
import type { Distribution, Failed, Skipped } from '../report/types.js';

const pexec = promisify(execFile);
const RUN_LABEL = 'agentix-bench.run';

export interface WaveFigures {
  n: number;
  qps: number;
  burst: number;
  /** create() called for all at once → the last create() returned */
  wallMs: number;
  perSandbox: Distribution;
  /** mean over the wave's requests, ms each waited for the rate limiter */
  meanRateLimitWaitMs: number;
  requestsPerSandbox: number;
  sharedRequests: number;
  byKind: Record<string, number>;
}

export interface KubernetesFigures {
  notes: string[];
  /** one sandbox at a time: create() → returned */
  single?: Distribution | Failed;
  requestsPerSandbox?: { total: number; byKind: Record<string, number> } | Failed;
  /** at the default rate limit (client-go's), then at a high one: what the backend and the engine cost without it */
  waves?: (WaveFigures | Failed)[];
}

/** How many sandboxes, per mode: one after another, then a wave at once. */
function counts(plan: Plan): { single: number; wave: number } {
  return plan.mode === 'smoke' ? { single: 1, wave: 2 } : plan.mode === 'quick' ? { single: 5, wave: 64 } : { single: 10, wave: 64 };
}

export async function runKubernetes(plan: Plan, log: (s: string) => void): Promise<KubernetesFigures | Skipped | Failed> {
  try {
    await pexec('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 });
  } catch {
    return { skipped: 'no engine (`docker info` failed): the stand-in runs pods on it' };
  }
  const { dockerFromEnv } = await import('../../bundle/docker-engine.js');
  const { buildBundle } = await import('../../bundle/index.js');
  const { taskImage, removeBundle } = await import('../../test/support/docker.js');
  const { startStandIn } = await import('../../test/support/stand-in/server.js');
  const { k8sDeployment } = await import('../../test/support/kubernetes.js');
  const docker = dockerFromEnv();
  const run = `agentix-bench-k8s-${process.pid}`;
  const project = copyBenchProject();
  const { single, wave } = counts(plan);
  let imageId: string | undefined;
  const standIn = await startStandIn({ docker, runLabels: { [RUN_LABEL]: run } });
  try {
    // a marker of its own: an image ID no other scenario builds, so its carrier is this scenario's alone
    appendFileSync(join(project.dir, 'src', 'index.ts'), `\nexport const benchKubernetes = ${JSON.stringify(run)};\n`);
    log('  kubernetes: building the bench bundle');
    const built = await buildBundle({ projectDir: project.dir, tag: `${run}:1`, load: true });
    imageId = built.imageId;
    const config = { image: await taskImage(docker, 'busybox'), bundle: built.tag, labels: { [RUN_LABEL]: run }, startupTimeoutMs: 120_000 };
    const out: KubernetesFigures = { notes: [`stand-in API server (TLS on 127.0.0.1), pods on the local Docker engine; task image ${config.image}; inject=image; connect=port-forward`] };

    log(`  kubernetes: ${single} sandboxes one after another`);
    try {
      const d = k8sDeployment(standIn);
      const times: number[] = [];
      let perSandbox: Record<string, number> | undefined;
      for (let i = 0; i < single; i++) {
        const before = new Map(d.api.counts);
        const t0 = performance.now();
        const sb = await withTimeout(d.create(config), 180_000, 'create');
        times.push(performance.now() - t0);
        await firstCall(sb);
        await withTimeout(d.delete(sb.id), 60_000, 'delete');
        // the first sandbox also paid for the version check, the list and the watch
        if (i === single - 1) perSandbox = diff(d.api.counts, before);
      }
      out.single = distribution(times);
      if (perSandbox) out.requestsPerSandbox = { total: sum(perSandbox), byKind: perSandbox };
    } catch (err) {
      out.single = { error: briefError(err) };
    }

    out.waves = [];
    for (const rate of [{}, { AGENTIX_K8S_QPS: '100', AGENTIX_K8S_BURST: '200' }] as Record<string, string>[]) {
      log(`  kubernetes: a wave of ${wave} at once (${rate.AGENTIX_K8S_QPS ? `${rate.AGENTIX_K8S_QPS} QPS` : 'default rate limit'})`);
      out.waves.push(await measureWave(k8sDeployment(standIn, rate), config, wave).catch((err) => ({ error: briefError(err) })));
    }
    return out;
  } finally {
    await standIn.close().catch((err: Error) => log(`  kubernetes: stand-in close failed: ${err.message}`));
    if (imageId) await removeBundle(docker, imageId).catch((err: Error) => log(`  kubernetes: clean-up failed: ${err.message}`));
    project.remove();
  }
}

/** `n` sandboxes created at once, each then called once, then all deleted at once. */
async function measureWave(d: KubernetesDeployment, config: SandboxConfig, n: number): Promise<WaveFigures> {
  const times: number[] = [];
  const t0 = performance.now();
  const settled = await Promise.allSettled(
    Array.from({ length: n }, async () => {
      const s = performance.now();
      const sb = await withTimeout(d.create(config), 300_000, 'create');
      times.push(performance.now() - s);
      return sb;
    }),
  );
  const wallMs = performance.now() - t0;
  const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  await Promise.allSettled(ok.map(firstCall));
  await Promise.allSettled(ok.map((sb) => withTimeout(d.delete(sb.id), 120_000, 'delete')));
  const failed = settled.flatMap((s) => (s.status === 'rejected' ? [briefError(s.reason)] : []));
  if (failed.length) throw new Error(`${failed.length}/${n} failed: ${failed[0]}`);
  const byKind = Object.fromEntries(d.api.counts);
  const shared = (byKind['GET version'] ?? 0) + (byKind['GET pods'] ?? 0) + (byKind['WATCH pods'] ?? 0);
  return {
    n,
    qps: d.api.limiter.qps,
    burst: d.api.limiter.burst,
    wallMs: round(wallMs),
    perSandbox: distribution(times),
    meanRateLimitWaitMs: round(d.api.limiter.waitedMs / Math.max(1, sum(byKind))),
    requestsPerSandbox: round((sum(byKind) - shared) / n),
    sharedRequests: shared,
    byKind,
  };
}

/** The figures as a markdown section of RESULTS.md. */
export function kubernetesSection(k: KubernetesFigures | Skipped | Failed | undefined): string {
  const lines = ['## Kubernetes backend (stand-in API server)', ''];
  if (!k) return [...lines, 'Not run (--skip).', ''].join('\n');
  if ('skipped' in k) return [...lines, `Skipped: ${k.skipped}.`, ''].join('\n');
  if ('error' in k) return [...lines, `Failed: ${k.error}.`, ''].join('\n');
  const dist = (d: Distribution) => `${d.p50Ms} / ${d.p90Ms} ms (max ${d.maxMs}, n=${d.n})`;
  lines.push(`${k.notes.join('; ')}. The backend's own time: create() called → returned (pod Ready, /health answered through the port-forward).`, '');
  lines.push('| what | figure |', '| --- | ---: |');
  lines.push(`| create → ready, one at a time, p50 / p90 | ${!k.single ? '–' : 'error' in k.single ? `failed: ${k.single.error}` : dist(k.single)} |`);
  if (k.requestsPerSandbox) lines.push(`| API requests per sandbox (create, reach, first call, delete) | ${'error' in k.requestsPerSandbox ? `failed: ${k.requestsPerSandbox.error}` : `${k.requestsPerSandbox.total} (${Object.entries(k.requestsPerSandbox.byKind).map(([kind, n]) => `${kind} ${n}`).join(', ')})`} |`);
  for (const w of k.waves ?? []) {
    if ('error' in w) {
      lines.push(`| wave | failed: ${w.error} |`);
      continue;
    }
    const at = `wave of ${w.n} at ${w.qps} QPS, burst ${w.burst}`;
    lines.push(`| ${at}: wall time | ${w.wallMs} ms |`);
    lines.push(`| ${at}: create → ready per sandbox, p50 / p90 | ${dist(w.perSandbox)} |`);
    lines.push(`| ${at}: API requests per sandbox, plus shared | ${w.requestsPerSandbox} + ${w.sharedRequests} shared (${Object.entries(w.byKind).map(([kind, n]) => `${kind} ${n}`).join(', ')}) |`);
    lines.push(`| ${at}: mean wait of a request for the rate limit | ${w.meanRateLimitWaitMs} ms |`);
  }
  lines.push('');
  return lines.join('\n');
}

function diff(now: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of now) if (v - (before.get(k) ?? 0) > 0) out[k] = v - (before.get(k) ?? 0);
  return out;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
