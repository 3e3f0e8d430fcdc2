/**
 * The measurement loops. Each one warms up first, repeats `plan.repeats`
 * times and reports the median of the runs; each run stops at its call count
 * or its time cap, whichever comes first.
 */
import type { BenchClient, ChatEcho } from '../clients/types.js';
import type { Plan } from './plan.js';
import { ownCpuUs } from './cpu.js';
import { median, percentile, round } from './stats.js';

export interface LatencyFigure { p50Us: number; p99Us: number; calls: number; runs: { p50Us: number; p99Us: number; calls: number }[] }
export interface RateFigure { perSec: number; runs: number[] }
/** CPU µs per call: the system's whole server side (server and every process under it) and the client process. */
export interface CpuPerCall { serverUs?: number; clientUs: number }
export interface ThroughputFigure extends RateFigure { cpu?: CpuPerCall & { runs: CpuPerCall[] } }

/** Reads the CPU µs used so far by the system's server processes (undefined: not measurable here). */
export type ServerCpuProbe = () => number | undefined;
export interface PayloadFigure { bytes: number; mbPerSec: number; p50Us: number; runs: number[] }

const now = () => process.hrtime.bigint();
const elapsedMs = (t0: bigint) => Number(now() - t0) / 1e6;

/** Rejects when `p` takes longer than `ms`: a stuck system ends its scenario, not the bench. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Single calls carry no timer of their own (one per call would cost the very
 * microseconds being measured); bench/client-main.ts bounds each scenario as a
 * whole, and bench/run.ts bounds the client process.
 */
const CALL_TIMEOUT_MS = 30_000;

async function sequentialLatencies(fn: () => Promise<unknown>, maxCalls: number, maxMs: number): Promise<number[]> {
  const samples: number[] = [];
  const t0 = now();
  while (samples.length < maxCalls && elapsedMs(t0) < maxMs) {
    const s = now();
    await fn();
    samples.push(Number(now() - s));
  }
  return samples.sort((a, b) => a - b);
}

async function warmUp(fn: () => Promise<unknown>, plan: Plan): Promise<void> {
  await sequentialLatencies(fn, plan.warmupCalls, plan.warmupMs);
}

function latencyFigure(runs: number[][]): LatencyFigure {
  const per = runs.map((s) => ({ p50Us: round(percentile(s, 50) / 1000), p99Us: round(percentile(s, 99) / 1000), calls: s.length }));
  return { p50Us: round(median(per.map((r) => r.p50Us))), p99Us: round(median(per.map((r) => r.p99Us))), calls: per.reduce((n, r) => n + r.calls, 0), runs: per };
}

export async function unarySequential(c: BenchClient, plan: Plan): Promise<LatencyFigure> {
  const r = await c.run('hello');
  if (r !== 'hello') throw new Error(`run("hello") returned ${JSON.stringify(r)}`);
  const fn = () => c.run('hello');
  await warmUp(fn, plan);
  const runs: number[][] = [];
  for (let i = 0; i < plan.repeats; i++) runs.push(await sequentialLatencies(fn, plan.seqCalls, plan.seqMaxMs));
  return latencyFigure(runs);
}

/**
 * Calls/s with `plan.inflight` calls outstanding at all times, and the CPU
 * each call cost the server side and the client: CPU read just before and just
 * after each measured run (not the warm-up), divided by the calls completed.
 */
export async function unaryThroughput(c: BenchClient, plan: Plan, serverCpu?: ServerCpuProbe): Promise<ThroughputFigure> {
  const once = async (maxCalls: number, maxMs: number): Promise<{ perSec: number; done: number }> => {
    let issued = 0;
    let done = 0;
    const t0 = now();
    const lane = async () => {
      while (issued < maxCalls && elapsedMs(t0) < maxMs) {
        issued++;
        await c.run('hello');
        done++;
      }
    };
    await Promise.all(Array.from({ length: plan.inflight }, lane));
    return { perSec: done / (elapsedMs(t0) / 1000), done };
  };
  await once(plan.warmupCalls * 4, plan.warmupMs);
  const runs: number[] = [];
  const cpuRuns: CpuPerCall[] = [];
  for (let i = 0; i < plan.repeats; i++) {
    // The /proc scan runs outside the client's own CPU window, so it is not charged to the client.
    const server0 = serverCpu?.();
    const client0 = ownCpuUs();
    const r = await once(plan.tputCalls, plan.tputMaxMs);
    const client1 = ownCpuUs();
    const server1 = serverCpu?.();
    runs.push(round(r.perSec));
    if (r.done === 0) continue; // nothing to divide by; the rate of 0 says enough
    const serverUs = server0 === undefined || server1 === undefined ? undefined : round((server1 - server0) / r.done);
    cpuRuns.push({ serverUs, clientUs: round((client1 - client0) / r.done) });
  }
  return { perSec: round(median(runs)), runs, ...(cpuRuns.length ? { cpu: mergeCpu(cpuRuns) } : {}) };
}

/** Median per-call CPU over runs (a run without a server figure leaves it out). */
export function mergeCpu(runs: CpuPerCall[]): CpuPerCall & { runs: CpuPerCall[] } {
  const servers = runs.flatMap((r) => (r.serverUs === undefined ? [] : [r.serverUs]));
  const out: CpuPerCall & { runs: CpuPerCall[] } = { clientUs: round(median(runs.map((r) => r.clientUs))), runs };
  if (servers.length) out.serverUs = round(median(servers));
  return out;
}

/** Sequential unary calls with a byte-array argument that comes back; MB/s counts the argument once (10^6 bytes). */
export async function payload(c: BenchClient, plan: Plan): Promise<PayloadFigure[]> {
  if (!c.echoBytes) throw new Error('no echoBytes');
  const out: PayloadFigure[] = [];
  for (const size of plan.payloadSizes) {
    const bytes = new Uint8Array(size).map((_, i) => i & 0xff);
    const back = await withTimeout(c.echoBytes(bytes), CALL_TIMEOUT_MS, 'echoBytes');
    if (back.byteLength !== size) throw new Error(`echoBytes(${size} bytes) returned ${back.byteLength} bytes`);
    const fn = () => c.echoBytes!(bytes);
    await sequentialLatencies(fn, 20, plan.warmupMs / 2);
    const runs: number[] = [];
    const p50s: number[] = [];
    for (let i = 0; i < plan.repeats; i++) {
      const s = await sequentialLatencies(fn, plan.payloadCalls, plan.payloadMaxMs);
      const totalNs = s.reduce((a, b) => a + b, 0);
      runs.push(round((size * s.length) / (totalNs / 1e9) / 1e6));
      p50s.push(percentile(s, 50) / 1000);
    }
    out.push({ bytes: size, mbPerSec: round(median(runs)), p50Us: round(median(p50s)), runs });
  }
  return out;
}

/**
 * Items/s of one stream of small numbers. A short probe stream sizes the runs
 * so that each one lasts about `plan.streamMaxMs` (never more than `plan.streamItems` items).
 */
export async function stream(c: BenchClient, plan: Plan): Promise<RateFigure & { items: number }> {
  if (!c.count) throw new Error('no stream');
  const guard = Math.max(30_000, plan.streamMaxMs * 20);
  const probeN = Math.min(2000, plan.streamItems);
  const t0 = now();
  const got = await withTimeout(c.count(probeN), guard, 'stream');
  if (got !== probeN) throw new Error(`count(${probeN}) gave ${got} items`);
  const rate = probeN / (elapsedMs(t0) / 1000);
  const n = Math.max(probeN, Math.min(plan.streamItems, Math.round((rate * plan.streamMaxMs) / 1000)));
  await withTimeout(c.count(n), guard, 'stream'); // warm-up at full size
  const runs: number[] = [];
  for (let i = 0; i < plan.repeats; i++) {
    const s = now();
    const items = await withTimeout(c.count(n), guard, 'stream');
    if (items !== n) throw new Error(`count(${n}) gave ${items} items`);
    runs.push(round(n / (elapsedMs(s) / 1000)));
  }
  return { perSec: round(median(runs)), runs, items: n };
}

/** Round trip of one item through a bidi echo, sequential. */
export async function bidiEcho(c: BenchClient, plan: Plan): Promise<LatencyFigure> {
  if (!c.openChat) throw new Error('no bidi');
  const chat: ChatEcho = await c.openChat();
  try {
    const r = await withTimeout(chat.roundTrip('hi'), CALL_TIMEOUT_MS, 'chat');
    if (r !== 'hi') throw new Error(`chat echoed ${JSON.stringify(r)}`);
    const fn = () => chat.roundTrip('hi');
    await sequentialLatencies(fn, plan.warmupCalls, plan.warmupMs);
    const runs: number[][] = [];
    for (let i = 0; i < plan.repeats; i++) runs.push(await sequentialLatencies(fn, plan.bidiCalls, plan.bidiMaxMs));
    return latencyFigure(runs);
  } finally {
    await withTimeout(chat.close(), 5000, 'chat close').catch(() => {});
  }
}
