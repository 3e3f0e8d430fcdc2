/**
 * Credit-based flow control, both halves, used for stream items (client
 * consumes, worker produces) and for the bidi inbox (worker consumes, client
 * produces). One rule: a producer sends only while it holds credit; a consumer
 * grants back what it has taken, in batches of half its window, so a steady
 * flow costs one CREDIT message per half window rather than one per item.
 */

/** The producer's side: how many more items it may send. */
export class Credit {
  private available: number;
  private waiters: (() => void)[] = [];

  constructor(initial: number) {
    this.available = initial;
  }

  get value(): number {
    return this.available;
  }

  /** Uses one unit; false (and nothing used) when none is left. */
  take(): boolean {
    if (this.available <= 0) return false;
    this.available--;
    return true;
  }

  grant(n: number): void {
    if (!(n > 0)) return;
    this.available += n;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once credit is available (at once if it is). */
  wait(): Promise<void> {
    if (this.available > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter without granting anything (the call ended; they check and leave). */
  release(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** The consumer's side: counts items taken and grants them back once half the window is used. */
export class GrantBack {
  private taken = 0;

  constructor(
    private readonly window: number,
    private readonly grant: (n: number) => void,
  ) {}

  took(): void {
    if (++this.taken >= Math.max(1, this.window / 2)) {
      const n = this.taken;
      this.taken = 0;
      this.grant(n);
    }
  }
}

/**
 * A credit count from the wire: a non-negative integer, in any msgpack
 * integer encoding (so possibly a bigint) or an integral float; counts beyond
 * 2^53 − 1 are taken as 2^53 − 1 (as good as unlimited). Undefined for
 * anything else.
 */
export function asCount(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return Math.min(v, Number.MAX_SAFE_INTEGER);
  if (typeof v === 'bigint' && v >= 0n) return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  return undefined;
}
