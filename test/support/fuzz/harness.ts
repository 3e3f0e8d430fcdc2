/**
 * A whole fuzz run against a live server: several fuzzing connections
 * (connection.ts) send their share of frames at once, while one well-behaved
 * RuntimeClient (good-client.ts) makes checked calls all along; memory is
 * sampled from /proc and worker restarts are counted from the fixture's
 * worker log. Used by test/runtime/fuzz.test.ts (100k frames) and
 * bench/fuzz.ts (1M).
 */
import { RuntimeClient } from '../../../index.js';
import { runConnection, type ConnectionStats } from './connection.js';
import { GoodClient, type GoodStats } from './good-client.js';
import { MemorySampler, mib, workerLog, type MemoryPeaks } from './proc.js';
import { Rng } from './rng.js';
import type { FuzzTargets } from './targets.js';

export interface FuzzOptions {
  url: string;
  token: string;
  seed: string;
  /** Frames over all fuzzing connections. */
  frames: number;
  connections: number;
  targets: FuzzTargets;
  /** The server's AGENTIX_MAX_PAYLOAD. */
  maxPayload: number;
  serverPid: number;
  /** The file the fixture's workers append their pid to (FUZZ_WORKER_LOG). */
  workerLogFile: string;
  goodInflight?: number;
  /** Frame kinds to leave out (known defects' families, to look past them). */
  exclude?: readonly string[];
  /** Stop sending after this long even if frames remain (the report says so). */
  timeLimitMs?: number;
  /** Stop as soon as the good client has a wrong or lost answer (CI: a wedged runtime fails in seconds, not at the time limit). */
  failFast?: boolean;
  dumpDir?: string;
  log?: (line: string) => void;
}

/** Every connection's figures summed, and the run's own. */
export interface FuzzReport extends ConnectionStats {
  seed: string;
  durationMs: number;
  framesPerSec: number;
  timedOut: boolean;
  /** Stopped early because the good client failed (failFast). */
  stoppedEarly: boolean;
  good: GoodStats;
  /** Output outside any call that shows the runtime itself failing (the worker's "failed to handle a message", a crash trace). */
  internalErrors: string[];
  /** Workers started during the run beyond the one it began with. */
  restarts: number;
  workerPids: number[];
  memory: MemoryPeaks;
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const root = new Rng(o.seed);
  const pidsBefore = workerLog(o.workerLogFile);
  const memory = new MemorySampler(o.serverPid);
  const started = Date.now();
  let fuzzing = true;
  let timedOut = false;
  let goodFailed = false;
  const stop = () => {
    if (o.timeLimitMs !== undefined && Date.now() - started > o.timeLimitMs) timedOut = true;
    return timedOut || (o.failFast === true && goodFailed);
  };

  const client = await RuntimeClient.connect(o.url, { token: o.token });
  // Output not tied to a call reaches every client: the worker reporting a failure of its own shows here.
  const internalErrors: string[] = [];
  client.on('log', (e) => {
    if (e.callId === 0 && /agentix worker:|Maximum call stack|heap out of memory|Uncaught|node:internal/.test(e.text) && internalErrors.length < 20) internalErrors.push(e.text.slice(0, 500));
  });
  const good = new GoodClient(client, root.fork('good'), { inflight: o.goodInflight ?? 8, lostAfterMs: 20_000, knownPids: () => new Set(workerLog(o.workerLogFile)), onFailure: () => (goodFailed = true) });
  const goodDone = good.run(() => !fuzzing);

  const all: ConnectionStats[] = [];
  const progress = setInterval(() => {
    const m = memory.sample();
    o.log?.(`[fuzz ${((Date.now() - started) / 1000).toFixed(0)}s] server ${mib(m.serverLast)} MiB (peak ${mib(m.serverPeak)}), worker ${mib(m.workerLast)} MiB (peak ${mib(m.workerPeak)})`);
  }, 5000);
  progress.unref();
  try {
    const share = Math.ceil(o.frames / o.connections);
    const runs = Array.from({ length: o.connections }, (_, i) =>
      runConnection({ url: o.url, token: o.token, rng: root.fork(`conn${i}`), label: `${o.seed}-conn${i}`, targets: o.targets, maxPayload: o.maxPayload, frames: share, dumpDir: o.dumpDir, exclude: o.exclude, stop }).then((s) => void all.push(s)),
    );
    await Promise.all(runs);
  } finally {
    fuzzing = false;
    clearInterval(progress);
  }
  const durationMs = Date.now() - started;
  const goodStats = await goodDone;
  await client.close();

  const sum = (k: 'frames' | 'bytes' | 'received' | 'lifetimes' | 'tracked' | 'trackedFinals' | 'checkedLifetimes') => all.reduce((n, s) => n + s[k], 0);
  const merge = (k: 'byKind' | 'receivedByType' | 'closes') => {
    const out: Record<string, number> = {};
    for (const s of all) for (const [key, v] of Object.entries(s[k])) out[key] = (out[key] ?? 0) + v;
    return out;
  };
  const pidsAfter = workerLog(o.workerLogFile);
  const frames = sum('frames');
  return {
    seed: o.seed,
    frames,
    bytes: sum('bytes'),
    durationMs,
    framesPerSec: Math.round(frames / (durationMs / 1000)),
    timedOut,
    stoppedEarly: o.failFast === true && goodFailed && frames < o.frames,
    byKind: merge('byKind'),
    received: sum('received'),
    receivedByType: merge('receivedByType'),
    lifetimes: sum('lifetimes'),
    closes: merge('closes'),
    tracked: sum('tracked'),
    trackedFinals: sum('trackedFinals'),
    checkedLifetimes: sum('checkedLifetimes'),
    violations: all.flatMap((s) => s.violations),
    good: goodStats,
    internalErrors,
    restarts: pidsAfter.length - pidsBefore.length,
    workerPids: pidsAfter.slice(pidsBefore.length > 0 ? pidsBefore.length - 1 : 0),
    memory: memory.stop(),
  };
}

/** A few lines for logs and failure messages. */
export function summarize(r: FuzzReport): string {
  const lines = [
    `seed ${r.seed}: ${r.frames} frames (${mib(r.bytes)} MiB) in ${(r.durationMs / 1000).toFixed(1)} s = ${r.framesPerSec} frames/s${r.timedOut ? ' (STOPPED BY THE TIME LIMIT)' : ''}${r.stoppedEarly ? ' (STOPPED EARLY: the good client failed)' : ''}`,
    `  lives ${r.lifetimes}, closes ${JSON.stringify(r.closes)}; tracked calls ${r.tracked}, finals ${r.trackedFinals}; lives checked for lost finals ${r.checkedLifetimes}`,
    `  received ${r.received} ${JSON.stringify(r.receivedByType)}`,
    `  good client: ${r.good.calls} calls, ${r.good.ok} right, ${r.good.wrong.length} wrong, ${r.good.lost.length} lost; p50 ${r.good.p50Ms.toFixed(1)} ms, p99 ${r.good.p99Ms.toFixed(1)} ms, max ${r.good.maxMs.toFixed(0)} ms`,
    `  worker restarts ${r.restarts} (pids ${r.workerPids.join(', ')}); RSS peak server ${mib(r.memory.serverPeak)} MiB, worker ${mib(r.memory.workerPeak)} MiB; at the end server ${mib(r.memory.serverLast)} MiB, worker ${mib(r.memory.workerLast)} MiB`,
  ];
  if (r.good.slowest.length > 0) lines.push(`  slowest good calls: ${r.good.slowest.map((x) => `${x.op} ${x.ms} ms at +${x.atMs} ms`).join('; ')}`);
  for (const w of r.good.wrong.slice(0, 10)) lines.push(`  WRONG ${w.op}: ${w.detail}`);
  for (const l of r.good.lost.slice(0, 10)) lines.push(`  LOST ${l.op}: ${l.detail}`);
  for (const e of r.internalErrors.slice(0, 5)) lines.push(`  RUNTIME ERROR OUTPUT: ${e.split('\n').slice(0, 3).join(' | ')}`);
  for (const v of r.violations.slice(0, 15)) lines.push(`  VIOLATION ${v.kind} (${v.connection} life ${v.lifetime}): ${v.detail}${v.dump ? ` [frames: ${v.dump}]` : ''}`);
  return lines.join('\n');
}
