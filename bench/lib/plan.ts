/**
 * How much to measure. One plan per mode; every loop in the bench is bounded
 * by both a count and a time taken from here, so a slow or stuck system ends
 * its scenario instead of the run.
 */
export type Mode = 'smoke' | 'quick' | 'full';

export interface Plan {
  mode: Mode;
  /** Repeated runs per figure; the reported figure is their median. */
  repeats: number;
  warmupCalls: number;
  warmupMs: number;
  /** Sequential unary: calls per run, and the time cap of one run. */
  seqCalls: number;
  seqMaxMs: number;
  /** Calls in flight for the throughput figure. */
  inflight: number;
  tputCalls: number;
  tputMaxMs: number;
  /** Payload scaling: argument sizes in bytes, calls and time cap per size and run. */
  payloadSizes: number[];
  payloadCalls: number;
  payloadMaxMs: number;
  /** Stream: items per run, time cap per run. */
  streamItems: number;
  streamMaxMs: number;
  /** Bidi echo: round trips per run. */
  bidiCalls: number;
  bidiMaxMs: number;
  /** Sandboxes: total created one after another, and how many at once in the parallel wave. */
  sandboxes: number;
  sandboxParallel: number;
  /** The same for the local deployment, whose every sandbox runs `agentix serve` (gen + compile) and so costs seconds of CPU. */
  localSandboxes: number;
  localParallel: number;
  /** Fresh-process runs of each `agentix gen` timing (median reported). */
  toolRuns: number;
  /** Size of the generated project for the `gen` timing. */
  genFunctions: number;
  /** How long to wait for a server to print its listening line. */
  startTimeoutMs: number;
}

const KiB = 1024;

export function planFor(mode: Mode): Plan {
  const common = { inflight: 64, payloadSizes: [KiB, 64 * KiB, 1024 * KiB], genFunctions: 200, startTimeoutMs: 90_000 };
  switch (mode) {
    case 'smoke':
      return { ...common, mode, repeats: 1, warmupCalls: 20, warmupMs: 500, seqCalls: 50, seqMaxMs: 1000, tputCalls: 200, tputMaxMs: 1000,
        payloadSizes: [KiB], payloadCalls: 5, payloadMaxMs: 1000, streamItems: 200, streamMaxMs: 1000, bidiCalls: 20, bidiMaxMs: 1000,
        sandboxes: 1, sandboxParallel: 1, localSandboxes: 1, localParallel: 1, toolRuns: 1, genFunctions: 10 };
    case 'quick':
      return { ...common, mode, repeats: 3, warmupCalls: 2000, warmupMs: 400, seqCalls: 3000, seqMaxMs: 400, tputCalls: 30_000, tputMaxMs: 400,
        payloadCalls: 200, payloadMaxMs: 250, streamItems: 50_000, streamMaxMs: 400, bidiCalls: 2000, bidiMaxMs: 300,
        sandboxes: 20, sandboxParallel: 16, localSandboxes: 2, localParallel: 2, toolRuns: 2 };
    case 'full':
      return { ...common, mode, repeats: 7, warmupCalls: 20_000, warmupMs: 3000, seqCalls: 20_000, seqMaxMs: 3000, tputCalls: 200_000, tputMaxMs: 3000,
        payloadCalls: 2000, payloadMaxMs: 2000, streamItems: 500_000, streamMaxMs: 3000, bidiCalls: 10_000, bidiMaxMs: 2000,
        sandboxes: 20, sandboxParallel: 16, localSandboxes: 10, localParallel: 8, toolRuns: 3 };
  }
}
