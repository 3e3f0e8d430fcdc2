/** The shape of bench/results/<date>.json (also what the renderers read). */
import type { MachineInfo } from '../lib/machine.js';
import type { LatencyFigure, PayloadFigure, RateFigure, ThroughputFigure } from '../lib/measure.js';
import type { Plan } from '../lib/plan.js';
import type { SystemName } from '../lib/systems.js';

export type Failed = { error: string };
export type Skipped = { skipped: string };

export interface SystemFigures {
  name: SystemName;
  label: string;
  via?: string;
  error?: string;
  unary?: (LatencyFigure & { inflight: { calls: number } & (ThroughputFigure | Failed) }) | Failed;
  payload?: PayloadFigure[] | Failed;
  stream?: (RateFigure & { items: number }) | Failed;
  bidi?: LatencyFigure | Failed;
  /** Unary again in the run's second placement (machine.otherPlacement), when it has one. */
  otherPlacement?: { placement: string; error?: string; unary?: SystemFigures['unary'] };
}

export interface Distribution { p50Ms: number; p90Ms: number; maxMs: number; n: number }

export interface SandboxBackendFigures {
  /** create() → first `run` call answered, sandboxes made one after another. */
  firstCall?: Distribution | Failed;
  /** `sandboxParallel` sandboxes created at once: wall time until all answered a first call. */
  parallel?: { n: number; wallMs: number; perSandbox: Distribution } | Failed;
  delete?: Distribution | Failed;
  /** Docker only: the engine's own floor on the same task image, measured beside these figures. */
  floor?: DockerFloorFigures;
  notes?: string[];
}

/** `docker run --rm <task image> sh -c :`: one after another (one before each sandbox), and a wave of as many as the sandbox wave. */
export interface DockerFloorFigures {
  command: string;
  sequential: Distribution | Failed;
  parallel?: { n: number; wallMs: number } | Failed;
}

export interface SandboxFigures {
  docker?: SandboxBackendFigures | Skipped | Failed;
  local?: SandboxBackendFigures | Skipped | Failed;
  skipped?: string;
}

/**
 * Cold `agentix gen` runs: the median wall time and every run; medians of the
 * gen process's peak RSS and of its main thread's CPU time (the wall time an
 * idle machine would show; Linux only).
 */
export interface GenTimes { coldMs: number; runs: number[]; peakRssMiB?: number; mainThreadCpuMs?: number }

export interface ToolingFigures {
  cli?: string;
  genBench?: GenTimes | Failed;
  genLarge?: ({ functions: number } & GenTimes) | Failed;
  /** fixtures/codegen/corpus: functions re-exported from real npm packages' typings. */
  genCorpus?: ({ functions: number; packages: number } & GenTimes) | Failed;
  /** Set when these figures come from a later tooling-only run than the rest of the report (`--skip=transport,sandbox`). */
  measuredSeparately?: { date: string; loadAvg?: number };
  buildCold?: { ms: number } | Failed | Skipped;
  buildWarm?: { ms: number; change: string } | Failed | Skipped;
  imageBytes?: number | Failed | Skipped;
  layers?: unknown;
  skipped?: string;
}

export interface BenchResults {
  date: string;
  mode: Plan['mode'];
  machine: MachineInfo;
  plan: Plan;
  transport: SystemFigures[];
  sandbox: SandboxFigures;
  tooling: ToolingFigures;
  durationS: number;
}

export const isFailed = (v: unknown): v is Failed => typeof v === 'object' && v !== null && 'error' in v;
export const isSkipped = (v: unknown): v is Skipped => typeof v === 'object' && v !== null && 'skipped' in v;
