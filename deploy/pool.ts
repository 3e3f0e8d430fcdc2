/**
 * Warm pools: sandboxes created ahead of need, so that `claim()` hands one
 * out in about a millisecond instead of a cold start's seconds.
 *
 *   await using pool = createPool(deployment, config, { size: 8, maxIdleMs: 60_000 });
 *   const sb = await pool.claim();      // already answers /health
 *   try { ... } finally { await pool.release(sb); }   // deletes it: never handed out again
 *
 * The pool keeps `size` idle sandboxes; each claim takes the oldest idle one
 * (so none sits until it expires while newer ones go out) after one cheap
 * /health look (a sandbox can die while idle), and starts its replacement in
 * the background. Creations run at most `concurrency` at a time. A failed
 * creation is retried after a doubling pause; after `attempts` failures in a
 * row (or at once when the backend refuses the config as INVALID_ARGUMENT)
 * the claims waiting fail with the last creation error as their cause, and
 * the pool stops trying until the next claim. Nothing it does in the
 * background can reject unobserved: every promise it starts is caught and
 * tracked, and `close()` waits for all of them.
 */
import { armDeadline, deadlineAt, type Deadline } from '../runtime/wire/deadline.js';
import { AgentixError } from '../runtime/wire/errors.js';
import { sandboxAnswers } from './sandbox-health.js';
import type { Deployment, Sandbox, SandboxConfig } from './types.js';

// Node 20.0–20.3 have no Symbol.asyncDispose (20.4+ and 22 do): define it the
// way TypeScript's release notes for `await using` describe, only where it is
// missing, so a runtime's own symbol is never replaced. The registered symbol
// Node 20.4+ itself uses, so every copy of this line agrees with the others.
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for('nodejs.asyncDispose');

export interface PoolOptions {
  /** Idle sandboxes the pool keeps ready (a whole number, at least 1). */
  size: number;
  /**
   * An idle sandbox older than this (ms since it was created) is deleted and
   * replaced, so a claim never gets one close to its `lifetimeMs` or stale.
   * Default: idle sandboxes do not expire.
   */
  maxIdleMs?: number;
  /** Creations in flight at most (default: `size`, at most 4). */
  concurrency?: number;
  /** Creation failures in a row before the waiting claims fail and the pool stops trying (default 5). */
  attempts?: number;
  /** Pause after the first failure, doubled after each further one, at most 10 s (default 250 ms). */
  backoffMs?: number;
  /**
   * How long `close()` waits for the creations and deletions still in flight
   * (default 120 s). The built-in deployments bound their own; a backend whose
   * `create()` never settles would otherwise hold `close()` forever. After it,
   * `close()` rejects with DEADLINE_EXCEEDED; a sandbox that still arrives is deleted.
   */
  closeTimeoutMs?: number;
}

export interface ClaimOptions {
  /** Gives up waiting when aborted (the claim rejects with code CANCELLED). */
  signal?: AbortSignal;
  /** Gives up after this many ms without a ready sandbox (code DEADLINE_EXCEEDED). */
  timeoutMs?: number;
}

export interface PoolStats {
  size: number;
  /** Ready to hand out now. */
  idle: number;
  /** Creations in flight. */
  creating: number;
  /** Handed out and not released yet. */
  claimed: number;
  /** Claims waiting for a sandbox. */
  waiting: number;
  /** Creation failures since the last success. */
  failures: number;
  /** The last creation failure, while `failures` > 0. */
  lastError?: unknown;
}

export interface Pool extends AsyncDisposable {
  /** What the pool creates its sandboxes on and from (e.g. for `fork(pool.deployment, sb, pool.config)`). */
  readonly deployment: Deployment;
  readonly config: SandboxConfig;
  /** A ready sandbox: an idle one at once, else the next one created. It is the caller's until `release`. */
  claim(opts?: ClaimOptions): Promise<Sandbox>;
  /** Deletes a claimed sandbox (a used sandbox is never handed out again). */
  release(sandbox: Sandbox): Promise<void>;
  /**
   * Deletes every idle sandbox and whatever is being created, and rejects the
   * claims waiting. Claimed sandboxes stay the caller's (release them).
   * Idempotent; rejects if some sandbox could not be deleted.
   */
  close(): Promise<void>;
  stats(): PoolStats;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_ATTEMPTS = 5;
const DEFAULT_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;
const DEFAULT_MAX_CONCURRENCY = 4;
const DEFAULT_CLOSE_TIMEOUT_MS = 120_000;

/** A pool of `opts.size` ready sandboxes made with `deployment.create(config)`; it starts filling at once. */
export function createPool(deployment: Deployment, config: SandboxConfig, opts: PoolOptions): Pool {
  return new WarmPool(deployment, config, opts);
}

interface Idle {
  sandbox: Sandbox;
  since: number;
  /** Its maxIdleMs expiry (the one deadline rule: a wait past one timer's range is a chain). */
  expiry?: Deadline;
}

interface Waiter {
  resolve(sandbox: Sandbox): void;
  reject(err: Error): void;
}

class WarmPool implements Pool {
  private readonly size: number;
  private readonly maxIdleMs: number | undefined;
  private readonly concurrency: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly closeTimeoutMs: number;

  /** Oldest first. */
  private readonly idle: Idle[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly claimed = new Map<string, Sandbox>();
  /** Every creation, health look and deletion in flight; settled promises that never reject. */
  private readonly background = new Set<Promise<void>>();
  private readonly deleteErrors: unknown[] = [];
  private creating = 0;
  private failures = 0;
  private lastError: unknown;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Gave up after `attempts` failures in a row; the next claim tries again. */
  private stalled = false;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly deployment: Deployment,
    readonly config: SandboxConfig,
    opts: PoolOptions,
  ) {
    if (!deployment || typeof deployment.create !== 'function' || typeof deployment.delete !== 'function')
      throw new AgentixError('INVALID_ARGUMENT', 'createPool: the first argument must be a Deployment (an object with create and delete)');
    if (!config || typeof config !== 'object') throw new AgentixError('INVALID_ARGUMENT', 'createPool: the second argument must be the SandboxConfig to create sandboxes from');
    if (!opts || typeof opts !== 'object') throw new AgentixError('INVALID_ARGUMENT', 'createPool: the third argument must be the options, e.g. { size: 8 }');
    this.size = wholeNumber('size', opts.size, 1);
    this.maxIdleMs = opts.maxIdleMs === undefined ? undefined : positive('maxIdleMs', opts.maxIdleMs);
    this.concurrency = opts.concurrency === undefined ? Math.min(this.size, DEFAULT_MAX_CONCURRENCY) : wholeNumber('concurrency', opts.concurrency, 1);
    this.attempts = opts.attempts === undefined ? DEFAULT_ATTEMPTS : wholeNumber('attempts', opts.attempts, 1);
    this.backoffMs = opts.backoffMs === undefined ? DEFAULT_BACKOFF_MS : nonNegative('backoffMs', opts.backoffMs);
    this.closeTimeoutMs = opts.closeTimeoutMs === undefined ? DEFAULT_CLOSE_TIMEOUT_MS : positive('closeTimeoutMs', opts.closeTimeoutMs);
    this.fill();
  }

  async claim(opts: ClaimOptions = {}): Promise<Sandbox> {
    const { signal, timeoutMs } = opts;
    if (timeoutMs !== undefined) positive('timeoutMs', timeoutMs, 'pool.claim');
    // One deadline for the whole claim: the health looks at idle sandboxes count too (each may
    // take up to its 1 s timeout, a frozen sandbox's TCP port still accepts), not only the wait.
    const at = timeoutMs === undefined ? undefined : deadlineAt(timeoutMs);
    for (;;) {
      if (this.closed) throw closedError();
      if (signal?.aborted) throw cancelledError();
      if (at !== undefined && Date.now() >= at) throw this.deadlineError(timeoutMs!);
      // A claim is a reason to try again after the pool gave up.
      if (this.stalled) {
        this.stalled = false;
        this.failures = 0;
      }
      const entry = this.takeIdle();
      if (!entry) return this.wait(signal, at, timeoutMs);
      const sandbox = await this.lookBounded(entry, signal, at);
      if (sandbox) {
        // The replacement starts once the caller has its sandbox: a backend's
        // create can block this thread for milliseconds (local spawns a process),
        // which the claim should not wait for.
        setImmediate(() => this.fill());
        return sandbox;
      }
    }
  }

  async release(sandbox: Sandbox): Promise<void> {
    const id = sandbox && typeof sandbox === 'object' ? sandbox.id : undefined;
    if (typeof id !== 'string' || !this.claimed.has(id))
      throw new AgentixError('INVALID_ARGUMENT', `pool.release: sandbox ${JSON.stringify(id)} was not claimed from this pool, or was released already`);
    this.claimed.delete(id);
    // Tracked: a close() that follows a release nobody awaited still waits for (and bounds) this deletion.
    // Promise.resolve: a plain-JS backend's delete may be synchronous and return nothing.
    await this.track(Promise.resolve(this.deployment.delete(id)));
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  stats(): PoolStats {
    const s: PoolStats = {
      size: this.size,
      idle: this.idle.length,
      creating: this.creating,
      claimed: this.claimed.size,
      waiting: this.waiters.length,
      failures: this.failures,
    };
    if (this.failures > 0) s.lastError = this.lastError;
    return s;
  }

  // ------------------------------------------------------------ internals

  private async shutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const w of this.waiters.splice(0)) w.reject(closedError());
    for (const e of this.idle.splice(0)) {
      e.expiry?.cancel();
      this.discard(e.sandbox);
    }
    // Creations in flight end within the backend's startup time; arrived() deletes what they make.
    // Bounded all the same: a backend's create() that never settles must not hold close() forever.
    let deadline: Deadline | undefined;
    const expired = new Promise<'expired'>((resolve) => (deadline = armDeadline(deadlineAt(this.closeTimeoutMs), () => resolve('expired'))));
    let outcome: unknown;
    try {
      while (this.background.size && outcome !== 'expired') outcome = await Promise.race([Promise.all([...this.background]), expired]);
    } finally {
      deadline?.cancel();
    }
    if (outcome === 'expired') {
      const errors = this.deleteErrors.splice(0);
      throw new AgentixError(
        'DEADLINE_EXCEEDED',
        `pool.close: ${this.background.size} creation(s) or deletion(s) had not finished after closeTimeoutMs (${this.closeTimeoutMs} ms); a sandbox that still arrives is deleted then`,
        undefined,
        errors.length ? { cause: new AggregateError(errors) } : undefined,
      );
    }
    if (this.deleteErrors.length) {
      const errors = this.deleteErrors.splice(0);
      throw new AgentixError('UNAVAILABLE', `pool.close: ${errors.length} sandbox(es) could not be deleted; the first: ${messageOf(errors[0])}`, undefined, {
        cause: new AggregateError(errors),
      });
    }
  }

  /** The oldest idle sandbox that has not expired (expired ones are deleted on the way). */
  private takeIdle(): Idle | undefined {
    for (;;) {
      const e = this.idle.shift();
      if (!e) return undefined;
      e.expiry?.cancel();
      if (this.maxIdleMs !== undefined && Date.now() - e.since >= this.maxIdleMs) this.discard(e.sandbox);
      else return e;
    }
  }

  /**
   * checked(), but the claim stops waiting for it at its deadline or abort;
   * the look goes on in the background and puts the sandbox back if it answers.
   */
  private lookBounded(entry: Idle, signal: AbortSignal | undefined, at: number | undefined): Promise<Sandbox | undefined> {
    const claim = { left: false };
    const look = this.track(this.checked(entry, signal, claim));
    if (at === undefined && !signal) return look;
    return new Promise<Sandbox | undefined>((resolve) => {
      const leave = () => {
        claim.left = true;
        finish(undefined);
      };
      const timer = at === undefined ? undefined : armDeadline(at, leave);
      const finish = (sb: Sandbox | undefined) => {
        timer?.cancel();
        signal?.removeEventListener('abort', leave);
        resolve(sb);
      };
      signal?.addEventListener('abort', leave, { once: true });
      void look.then((sb) => {
        if (!claim.left) finish(sb);
      });
    });
  }

  /**
   * The idle sandbox, claimed, if it still answers; undefined when it died
   * (deleted), the pool closed meanwhile (deleted) or the claim was cancelled
   * or gave up (back to idle). Everything is decided in one step after the look, so a
   * close() waiting for this promise sees the deletion it starts.
   */
  private async checked(entry: Idle, signal: AbortSignal | undefined, claim: { left: boolean }): Promise<Sandbox | undefined> {
    const ok = await sandboxAnswers(entry.sandbox.runtimeUrl);
    if (!ok || this.closed) {
      this.discard(entry.sandbox);
      if (!ok) this.fill();
      return undefined;
    }
    if (signal?.aborted || claim.left) {
      this.addIdle(entry.sandbox, entry.since, true);
      return undefined;
    }
    this.claimed.set(entry.sandbox.id, entry.sandbox);
    return entry.sandbox;
  }

  private wait(signal: AbortSignal | undefined, at: number | undefined, timeoutMs: number | undefined): Promise<Sandbox> {
    return new Promise<Sandbox>((resolve, reject) => {
      let timer: Deadline | undefined;
      const settle = () => {
        timer?.cancel();
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        resolve: (sb) => {
          settle();
          resolve(sb);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      };
      // The sandbox a leaving claim would have got goes to the idle ones instead.
      const leave = (err: Error) => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        waiter.reject(err);
      };
      const onAbort = () => leave(cancelledError());
      signal?.addEventListener('abort', onAbort, { once: true });
      if (at !== undefined) timer = armDeadline(at, () => leave(this.deadlineError(timeoutMs!)));
      this.waiters.push(waiter);
      this.fill();
    });
  }

  private deadlineError(timeoutMs: number): AgentixError {
    return new AgentixError('DEADLINE_EXCEEDED', `pool.claim: no sandbox was ready within ${timeoutMs} ms${this.failures ? `; the last creation failed: ${messageOf(this.lastError)}` : ''}`, undefined, this.failures ? { cause: this.lastError } : undefined);
  }

  /** Starts creations until idle + creating covers `size` plus the waiting claims, `concurrency` at most. */
  private fill(): void {
    // Checked on every turn, not once: a backend whose create throws synchronously
    // fails inside createOne() before the loop goes on (creating back to 0), and
    // only the stall or retry timer that failure sets ends the loop.
    while (
      !this.closed &&
      !this.stalled &&
      !this.retryTimer &&
      this.creating < this.concurrency &&
      this.idle.length + this.creating < this.size + this.waiters.length
    ) {
      this.creating++;
      void this.track(this.createOne());
    }
  }

  private async createOne(): Promise<void> {
    let sandbox: Sandbox;
    try {
      sandbox = await this.deployment.create(this.config);
      // A backend bug must fail like a failed creation, not throw inside arrived()
      // (which left the waiting claim pending forever) or reach a caller.
      if (!isSandbox(sandbox))
        throw new AgentixError('INTERNAL', `pool: the deployment's create() resolved to ${JSON.stringify(sandbox) ?? String(sandbox)}, not a Sandbox (an object with string id and runtimeUrl)`);
    } catch (err) {
      this.creating--;
      this.failed(err);
      return;
    }
    this.creating--;
    this.arrived(sandbox);
  }

  private arrived(sandbox: Sandbox): void {
    this.failures = 0;
    this.lastError = undefined;
    this.stalled = false;
    if (this.closed) {
      this.discard(sandbox);
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      this.claimed.set(sandbox.id, sandbox);
      w.resolve(sandbox); // just created: it answered /health a moment ago
    } else {
      this.addIdle(sandbox, Date.now(), false);
    }
    this.fill();
  }

  private failed(err: unknown): void {
    this.failures++;
    this.lastError = err;
    if (this.closed) return;
    // A config the backend refuses stays refused: trying again only delays the answer.
    const refused = isInvalidArgument(err);
    if (refused || this.failures >= this.attempts) {
      this.stalled = true;
      const what = `from image ${JSON.stringify(this.config.image)} with bundle ${JSON.stringify(this.config.bundle)}`;
      const error = refused
        ? new AgentixError('INVALID_ARGUMENT', `pool: the backend refused the sandbox config (${what}): ${messageOf(err)}`, undefined, { cause: err })
        : new AgentixError('UNAVAILABLE', `pool: ${this.failures} sandbox creations in a row failed (${what}); the last: ${messageOf(err)}. The pool stops trying until the next claim().`, undefined, { cause: err });
      for (const w of this.waiters.splice(0)) w.reject(error);
      return;
    }
    if (this.retryTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2 ** (this.failures - 1));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, delay);
  }

  private addIdle(sandbox: Sandbox, since: number, first: boolean): void {
    const entry: Idle = { sandbox, since };
    if (this.maxIdleMs !== undefined) {
      // Idle sandboxes alone do not keep the host process running.
      entry.expiry = armDeadline(since + this.maxIdleMs, () => this.expire(entry), { unref: true });
    }
    if (first) this.idle.unshift(entry);
    else this.idle.push(entry);
  }

  private expire(entry: Idle): void {
    const i = this.idle.indexOf(entry);
    if (i < 0) return;
    this.idle.splice(i, 1);
    this.discard(entry.sandbox);
    this.fill();
  }

  /** Deletes a sandbox nobody will get; a failure is kept for close() to report. */
  private discard(sandbox: Sandbox): void {
    void this.track(
      (async () => {
        try {
          await this.deployment.delete(sandbox.id);
        } catch (err) {
          this.deleteErrors.push(err);
        }
      })(),
    );
  }

  /** Remembers `p` until it settles, so close() can wait for it; returns it unchanged. */
  private track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.background.add(settled);
    void settled.then(() => this.background.delete(settled));
    return p;
  }
}

function isSandbox(v: unknown): v is Sandbox {
  return !!v && typeof v === 'object' && typeof (v as Sandbox).id === 'string' && typeof (v as Sandbox).runtimeUrl === 'string';
}

function closedError(): AgentixError {
  return new AgentixError('UNAVAILABLE', 'pool.claim: the pool is closed');
}

function cancelledError(): AgentixError {
  return new AgentixError('CANCELLED', 'pool.claim was cancelled (its signal aborted) before a sandbox was ready');
}

/** An AgentixError INVALID_ARGUMENT, also from a backend with its own copy of agentix (so not by instanceof). */
function isInvalidArgument(err: unknown): boolean {
  return err instanceof Error && err.name === 'AgentixError' && (err as { code?: unknown }).code === 'INVALID_ARGUMENT';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function wholeNumber(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new AgentixError('INVALID_ARGUMENT', `createPool: \`${name}\` must be a whole number, at least ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function positive(name: string, v: unknown, where = 'createPool'): number {
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new AgentixError('INVALID_ARGUMENT', `${where}: \`${name}\` must be a positive number of ms, got ${JSON.stringify(v)}`);
  return v;
}

function nonNegative(name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new AgentixError('INVALID_ARGUMENT', `createPool: \`${name}\` must be a number of ms, at least 0, got ${JSON.stringify(v)}`);
  return v;
}
