/**
 * Folds the per-round results of one system into one figure per scenario:
 * the runs of every round side by side, the reported figure their median. A
 * scenario that failed in some rounds keeps the good rounds and says how many
 * failed; one that failed in all reports the first error.
 */
import { mergeCpu, type LatencyFigure, type PayloadFigure, type RateFigure, type ThroughputFigure } from './measure.js';
import { median, round } from './stats.js';

type Round = Record<string, unknown>;
const failed = (v: unknown): v is { error: string } => typeof v === 'object' && v !== null && 'error' in v;

export function mergeRounds(rounds: Round[]): Round {
  const out: Round = {};
  const keys = new Set(rounds.flatMap((r) => Object.keys(r)));
  for (const key of keys) {
    const values = rounds.map((r) => r[key]).filter((v) => v !== undefined);
    if (key === 'error') continue;
    const good = values.filter((v) => !failed(v));
    const bad = values.filter(failed);
    if (good.length === 0) {
      out[key] = bad[0] ?? { error: 'no result' };
      continue;
    }
    const merged = mergeScenario(key, good);
    if (bad.length && typeof merged === 'object' && merged !== null) (merged as Round).failedRounds = `${bad.length}: ${bad[0].error}`;
    out[key] = merged;
  }
  const errors = rounds.map((r) => r.error).filter((e): e is string => typeof e === 'string');
  if (errors.length === rounds.length && errors.length) out.error = errors[0];
  return out;
}

function mergeScenario(key: string, values: unknown[]): unknown {
  switch (key) {
    case 'unary': {
      const lat = mergeLatency(values as LatencyFigure[]);
      const inflights = (values as { inflight: ThroughputFigure | { error: string } }[]).map((v) => v.inflight);
      const goodRates = inflights.filter((v): v is ThroughputFigure => !failed(v));
      const cpuRuns = goodRates.flatMap((v) => v.cpu?.runs ?? []);
      const inflight = goodRates.length
        ? { calls: (inflights[0] as { calls?: number }).calls, ...mergeRate(goodRates), ...(cpuRuns.length ? { cpu: mergeCpu(cpuRuns) } : {}) }
        : inflights[0];
      return { ...lat, inflight };
    }
    case 'bidi': return mergeLatency(values as LatencyFigure[]);
    case 'stream': return { ...mergeRate(values as RateFigure[]), items: (values[0] as { items: number }).items };
    case 'payload': {
      const lists = values as PayloadFigure[][];
      return lists[0].map((first) => {
        const same = lists.map((l) => l.find((p) => p.bytes === first.bytes)).filter((p): p is PayloadFigure => !!p);
        const runs = same.flatMap((p) => p.runs);
        return { bytes: first.bytes, mbPerSec: round(median(runs)), p50Us: round(median(same.map((p) => p.p50Us))), runs };
      });
    }
    default: return values[0];
  }
}

function mergeLatency(values: LatencyFigure[]): LatencyFigure {
  const runs = values.flatMap((v) => v.runs);
  return { p50Us: round(median(runs.map((r) => r.p50Us))), p99Us: round(median(runs.map((r) => r.p99Us))), calls: runs.reduce((n, r) => n + r.calls, 0), runs };
}

function mergeRate(values: RateFigure[]): RateFigure {
  const runs = values.flatMap((v) => v.runs);
  return { perSec: round(median(runs)), runs };
}
