/**
 * What the fuzzer knows about the project it attacks: the manifest's targets
 * (name, shape, argument and inbox schemas), and which of them harm their own
 * worker on purpose (the random fuzzer never calls those: a restart they cause
 * is not the runtime's fault, and the fuzz run counts restarts).
 */
import { readFileSync } from 'node:fs';

export type Shape = 'unary' | 'stream' | 'bidi';

export interface FuzzTarget {
  name: string;
  shape: Shape;
  args: unknown;
  inbox?: unknown;
}

export interface FuzzTargets {
  /** Every target in the manifest. */
  all: FuzzTarget[];
  /** The ones the random fuzzer may call. */
  safe: FuzzTarget[];
  defs: Record<string, unknown>;
}

/** fixtures/fuzz: exit, spin forever, spin in a finally. */
export const HARMFUL = ['exitNow', 'spin', 'finallySpin'];

export function loadTargets(manifestPath: string, harmful: readonly string[] = HARMFUL): FuzzTargets {
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { targets: Record<string, { shape: Shape; args?: unknown; inbox?: unknown }>; $defs?: Record<string, unknown> };
  const all = Object.entries(m.targets).map(([name, t]) => ({ name, shape: t.shape, args: t.args, inbox: t.inbox }));
  return { all, safe: all.filter((t) => !harmful.includes(t.name)), defs: m.$defs ?? {} };
}
