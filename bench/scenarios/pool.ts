/**
 * Warm pools: how long `pool.claim()` takes with the pool warm (an idle
 * sandbox ready: a /health look and a hand-over, no cold start), and how many
 * claims per second it sustains while it refills (claims beyond its size
 * wait for creations, `concurrency` at a time). On the local deployment
 * always, on Docker when an engine answers (`docker info`). Every sandbox
 * made here is deleted, also on failure: claimed ones released, the pool closed.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Deployment, Sandbox, SandboxConfig } from '../../deploy/types.js';
import type { Pool } from '../../deploy/pool.js';
import { briefError } from '../lib/errors.js';
import { withTimeout } from '../lib/measure.js';
import type { Plan } from '../lib/plan.js';
import { copyBenchProject, type TempDir } from '../lib/project-copy.js';
import { percentile, round } from '../lib/stats.js';
import type { Failed, Skipped } from '../report/types.js';
import { withDockerBundle } from '../lib/docker-bundle.js';
import { firstCall } from './sandbox.js';

/** Its own tag: the sandbox scenario removes `agentix-bench:latest` when it ends, and other runs theirs. */
const BENCH_TAG = `agentix-bench-pool-${process.pid}:1`;
/** A claim or a refill that takes longer than this means something is stuck. */
const WAIT_MS = 180_000;

export interface ClaimLatency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  n: number;
}

export interface PoolBackendFigures {
  /** The pool's size and creation concurrency. */
  size: number;
  concurrency: number;
  /** claim() → resolved, each from a full pool with no creation running */
  warmClaim?: ClaimLatency | Failed;
  /** `claims` claimed back to back from a warm pool (each released at once): most wait for a creation */
  refill?: { claims: number; wallMs: number; claimsPerSec: number; fromIdle: number } | Failed;
  notes?: string[];
}

export interface PoolFigures {
  local?: PoolBackendFigures | Failed;
  docker?: PoolBackendFigures | Failed | Skipped;
}

/** Warm claims measured, and the claims of the refill run, per mode. */
function counts(plan: Plan): { size: number; warmClaims: number; refillClaims: number } {
  if (plan.mode === 'smoke') return { size: 2, warmClaims: 2, refillClaims: 4 };
  if (plan.mode === 'quick') return { size: 4, warmClaims: 12, refillClaims: 12 };
  return { size: 4, warmClaims: 40, refillClaims: 24 };
}

export async function runPool(plan: Plan, log: (s: string) => void): Promise<PoolFigures> {
  const out: PoolFigures = {};
  const project = copyBenchProject();
  // A bundle image of its own: the bench project builds to the same image ID
  // wherever it is built, and another run's clean-up (by ID) would remove this
  // one's image, or this one's theirs.
  appendFileSync(join(project.dir, 'src', 'index.ts'), `\n/** Makes this copy's bundle unique. */\nexport function poolBenchRun(): string {\n  return ${JSON.stringify(`${process.pid}-${randomBytes(6).toString('hex')}`)};\n}\n`);
  try {
    log('  pool: local deployment');
    out.local = await measurePool('local', { image: '', bundle: project.dir }, plan).catch((err) => ({ error: briefError(err) }));
    out.docker = await dockerFigures(plan, project, log).catch((err) => ({ error: briefError(err) }));
  } finally {
    project.remove();
  }
  return out;
}

function dockerFigures(plan: Plan, project: TempDir, log: (s: string) => void): Promise<PoolBackendFigures | Skipped> {
  return withDockerBundle(project, BENCH_TAG, log, async ({ image, built }) => {
    log(`  pool: docker on ${image}`);
    const figures = await measurePool('docker', { image, bundle: built.tag }, plan);
    figures.notes = [`task image ${image}`];
    return figures;
  });
}

async function measurePool(name: 'docker' | 'local', config: SandboxConfig, plan: Plan): Promise<PoolBackendFigures> {
  const { loadDeployment } = await import('../../deploy/load.js');
  const { createPool } = await import('../../deploy/pool.js');
  const dep: Deployment = new (await loadDeployment(name))();
  const { size, warmClaims, refillClaims } = counts(plan);
  const pool = createPool(dep, config, { size });
  const concurrency = Math.min(size, 4);
  const figures: PoolBackendFigures = { size, concurrency };
  const claimed = new Set<Sandbox>();
  const release = (sb: Sandbox) => {
    claimed.delete(sb);
    return pool.release(sb);
  };
  try {
    // the first sandbox proves the pool serves calls at all
    await untilWarm(pool);
    const first = await withTimeout(pool.claim(), WAIT_MS, 'claim');
    claimed.add(first);
    await firstCall(first);
    await release(first);

    try {
      const samples: number[] = [];
      for (let i = 0; i < warmClaims; i++) {
        // Full and quiet before each claim: what is measured is the claim, not a
        // replacement's start competing with it (a local create spawns a process
        // on this thread; back-to-back claims are the refill figure's business).
        await untilWarm(pool);
        const t0 = performance.now();
        const sb = await withTimeout(pool.claim(), WAIT_MS, 'claim');
        samples.push(performance.now() - t0);
        claimed.add(sb);
        await release(sb);
      }
      const s = samples.sort((a, b) => a - b);
      figures.warmClaim = { p50Ms: round(percentile(s, 50)), p99Ms: round(percentile(s, 99)), maxMs: round(s[s.length - 1]!), n: s.length };
    } catch (err) {
      figures.warmClaim = { error: briefError(err) };
    }

    try {
      await untilWarm(pool);
      let fromIdle = 0;
      const releases: Promise<void>[] = [];
      const t0 = performance.now();
      for (let i = 0; i < refillClaims; i++) {
        if (pool.stats().idle > 0) fromIdle++;
        const sb = await withTimeout(pool.claim(), WAIT_MS, 'claim');
        claimed.add(sb);
        releases.push(release(sb));
      }
      const wallMs = performance.now() - t0;
      await Promise.all(releases);
      figures.refill = { claims: refillClaims, wallMs: round(wallMs), claimsPerSec: round(refillClaims / (wallMs / 1000)), fromIdle };
    } catch (err) {
      figures.refill = { error: briefError(err) };
    }
  } finally {
    await Promise.allSettled([...claimed].map((sb) => pool.release(sb)));
    await withTimeout(pool.close(), WAIT_MS, 'pool.close');
  }
  return figures;
}

/** Waits until the pool holds `size` idle sandboxes; a pool that cannot get there fails the figure. */
async function untilWarm(pool: Pool): Promise<void> {
  const end = Date.now() + WAIT_MS;
  for (;;) {
    const s = pool.stats();
    if (s.idle >= s.size && s.creating === 0) return;
    if (s.failures > 0 && s.creating === 0 && s.failures >= 5) throw new Error(`the pool cannot create sandboxes: ${briefError(s.lastError)}`);
    if (Date.now() > end) throw new Error(`the pool did not fill within ${WAIT_MS} ms (${JSON.stringify({ ...s, lastError: undefined })})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The figures as a markdown section of RESULTS.md. */
export function poolSection(p: PoolFigures | Skipped | Failed | undefined): string {
  const lines = ['## Warm pools: claim()', ''];
  if (!p || 'skipped' in p) return [...lines, `Skipped: ${p && 'skipped' in p ? p.skipped : 'not run (--skip)'}.`, ''].join('\n');
  if ('error' in p) return [...lines, `Failed: ${p.error}.`, ''].join('\n');
  lines.push('A warm claim is `claim()` → resolved from a full, quiet pool (one /health look included); the refill figure claims back to back from a warm pool, releasing each at once, so most claims wait for a creation.', '');
  lines.push('| deployment | pool size / concurrency | warm claim p50 / p99 / max | claims/s while it refills |', '| --- | ---: | ---: | ---: |');
  for (const [name, f] of [['local', p.local], ['docker', p.docker]] as const) {
    if (!f) continue;
    if ('skipped' in f) lines.push(`| ${name} | skipped: ${f.skipped} | | |`);
    else if ('error' in f) lines.push(`| ${name} | failed: ${f.error} | | |`);
    else {
      const w = !f.warmClaim ? '–' : 'error' in f.warmClaim ? `failed: ${f.warmClaim.error}` : `${f.warmClaim.p50Ms} / ${f.warmClaim.p99Ms} / ${f.warmClaim.maxMs} ms (n=${f.warmClaim.n})`;
      const r = !f.refill ? '–' : 'error' in f.refill ? `failed: ${f.refill.error}` : `${f.refill.claimsPerSec} (${f.refill.claims} claims in ${f.refill.wallMs} ms, ${f.refill.fromIdle} from idle)`;
      lines.push(`| ${name} | ${f.size} / ${f.concurrency} | ${w} | ${r} |`);
    }
  }
  lines.push('');
  return lines.join('\n');
}
