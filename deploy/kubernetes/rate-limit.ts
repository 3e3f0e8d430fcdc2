/**
 * A client-side token bucket, as client-go's (`flowcontrol.NewTokenBucketRateLimiter`):
 * `burst` requests may go at once, then `qps` per second. Waiters are served
 * first come, first served, so a wave of creates is spread out instead of
 * flooding the API server. Every wait is bounded by the caller's signal.
 */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();
  private readonly queue: { resolve: () => void; reject: (err: Error) => void; signal?: AbortSignal; onAbort?: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Milliseconds callers spent waiting for a token, summed (for the bench), and the longest single wait. */
  waitedMs = 0;
  maxWaitMs = 0;

  constructor(
    readonly qps: number,
    readonly burst: number,
  ) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`rate limit needs qps > 0 and burst >= 1, got ${qps} and ${burst}`);
    this.tokens = burst;
  }

  /** Requests waiting for a token now. */
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves when the caller may send one request; rejects when `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void> {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const t0 = performance.now();
    return new Promise<void>((resolve, reject) => {
      const entry: (typeof this.queue)[number] = {
        resolve: () => {
          const waited = performance.now() - t0;
          this.waitedMs += waited;
          this.maxWaitMs = Math.max(this.maxWaitMs, waited);
          resolve();
        },
        reject,
        signal,
      };
      if (signal) {
        entry.onAbort = () => {
          const i = this.queue.indexOf(entry);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.queue.push(entry);
      this.schedule();
    });
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, ((1 - this.tokens) / this.qps) * 1000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.queue.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        const next = this.queue.shift()!;
        if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
        next.resolve();
      }
      this.schedule();
    }, Math.ceil(wait));
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted while waiting for the client-side rate limit');
}
