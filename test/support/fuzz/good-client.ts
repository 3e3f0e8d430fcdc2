/**
 * The well-behaved connection: the real RuntimeClient making a steady stream
 * of calls of all three shapes (and the errors a user meets: REMOTE,
 * INVALID_ARGUMENT, NOT_FOUND, DEADLINE_EXCEEDED, CANCELLED) against
 * fixtures/fuzz, checking every answer exactly. An answer that differs is
 * *wrong*; one that does not come within `lostAfterMs` is *lost*. While the
 * fuzzer attacks the same server, both must stay at zero.
 */
import { RemoteError, type RuntimeClient } from '../../../index.js';
import type { Rng } from './rng.js';
import { exactValue } from './values.js';

export interface GoodStats {
  calls: number;
  ok: number;
  wrong: { op: string; detail: string }[];
  lost: { op: string; detail: string }[];
  byOp: Record<string, number>;
  /** Round-trip milliseconds, p50 and p99 over every call. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The slowest calls: which, when (ms after the run began) and how long. */
  slowest: { op: string; atMs: number; ms: number }[];
}

export interface GoodOptions {
  /** Calls kept in flight at once. */
  inflight?: number;
  /** An answer later than this counts as lost (default 30 s). */
  lostAfterMs?: number;
  /** Pids a worker of this server has had (the answer of pid() must be one of them). */
  knownPids?: () => Set<number>;
  /** Told of the first wrong or lost answer. */
  onFailure?: () => void;
}

class Mismatch extends Error {}

/** An operation; `note` says what exactly it asked, for the report if it goes wrong. */
type Op = [weight: number, name: string, run: (note: (what: string) => void) => Promise<void>];

export class GoodClient {
  private readonly stats: GoodStats = { calls: 0, ok: 0, wrong: [], lost: [], byOp: {}, p50Ms: 0, p99Ms: 0, maxMs: 0, slowest: [] };
  private readonly began = performance.now();
  private readonly latencies: number[] = [];
  private readonly ops: Op[];

  constructor(
    private readonly client: RuntimeClient,
    private readonly rng: Rng,
    private readonly opts: GoodOptions = {},
  ) {
    this.ops = this.makeOps();
  }

  /** Runs until `stop()` is true, then waits (bounded) for the calls still out. */
  async run(stop: () => boolean): Promise<GoodStats> {
    const inflight = this.opts.inflight ?? 8;
    const lanes = Array.from({ length: inflight }, async () => {
      while (!stop()) await this.one();
    });
    await Promise.all(lanes);
    const sorted = [...this.latencies].sort((a, b) => a - b);
    this.stats.p50Ms = sorted[Math.floor(sorted.length * 0.5)] ?? 0;
    this.stats.p99Ms = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
    this.stats.maxMs = sorted[sorted.length - 1] ?? 0;
    return this.stats;
  }

  private async one(): Promise<void> {
    const [, name, run] = this.rng.weighted(this.ops.map((o) => [o[0], o] as const));
    this.stats.calls++;
    this.stats.byOp[name] = (this.stats.byOp[name] ?? 0) + 1;
    const started = performance.now();
    const lostAfter = this.opts.lostAfterMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    let what = '';
    const lost = new Promise<'lost'>((resolve) => (timer = setTimeout(() => resolve('lost'), lostAfter)));
    try {
      const outcome = await Promise.race([run((w) => (what = w)).then(() => 'ok' as const), lost]);
      if (outcome === 'lost') {
        this.stats.lost.push({ op: name, detail: `${what}: no answer within ${lostAfter} ms` });
        this.opts.onFailure?.();
      }
      else this.stats.ok++;
    } catch (err) {
      this.stats.wrong.push({ op: name, detail: err instanceof Mismatch ? err.message : `unexpected ${describeError(err)}` });
      this.opts.onFailure?.();
    } finally {
      clearTimeout(timer);
      const ms = performance.now() - started;
      this.latencies.push(ms);
      this.noteSlow(name, started - this.began, ms);
    }
  }

  private noteSlow(op: string, atMs: number, ms: number): void {
    const s = this.stats.slowest;
    if (s.length >= 5 && ms <= s[s.length - 1]!.ms) return;
    s.push({ op, atMs: Math.round(atMs), ms: Math.round(ms) });
    s.sort((a, b) => b.ms - a.ms);
    s.length = Math.min(s.length, 5);
  }

  private makeOps(): Op[] {
    const c = this.client;
    const r = this.rng;
    return [
      [6, 'add', async () => {
        const a = r.int(-1e6, 1e6), b = r.int(-1e6, 1e6);
        same(await c.call('add', [a, b]), a + b, `add(${a}, ${b})`);
      }],
      [5, 'echo', async () => {
        const v = exactValue(r, 3);
        same(await c.call('echo', [v]), v, 'echo');
      }],
      [2, 'concat', async () => {
        const parts = Array.from({ length: r.size(10) }, (_, i) => `p${i}`);
        same(await c.call('concat', [parts, '-']), parts.join('-'), 'concat');
      }],
      [2, 'norm', async () => {
        const x = r.int(-100, 100), y = r.int(-100, 100);
        same(await c.call('norm', [{ x, y, label: 'pt' }]), Math.hypot(x, y), 'norm');
      }],
      [1, 'area', async () => {
        const side = r.int(0, 50);
        same(await c.call('area', [{ kind: 'square', side }]), side * side, 'area');
      }],
      [1, 'big', async () => {
        const n = BigInt(r.int(-1e9, 1e9)) * 2n ** 20n;
        same(await c.call('big', [n]), n * 2n, 'big');
      }],
      [1, 'bytes', async () => {
        const n = r.int(0, 70_000);
        const got = await c.call<Uint8Array>('makeBytes', [n]);
        if (!(got instanceof Uint8Array) || got.length !== n || got.some((x) => x !== 0)) throw new Mismatch(`makeBytes(${n}) gave ${describe(got)}`);
        same(await c.call('bytesLength', [got]), n, 'bytesLength');
      }],
      [4, 'stream', async (note) => {
        const credit = r.pick([undefined, 1, 4, 32, 0]);
        // One round trip per item or four: a short stream, or a loaded worker makes it minutes long.
        const n = credit === 1 || credit === 4 ? r.int(0, 12) : r.int(0, 300);
        const got: number[] = [];
        note(`count(${n}) with credit ${credit}`);
        const t0 = performance.now();
        for await (const x of c.stream<number>('count', [n], credit === undefined ? {} : { credit })) {
          got.push(x);
          note(`count(${n}) with credit ${credit}: ${got.length} items after ${Math.round(performance.now() - t0)} ms`);
        }
        same(got, Array.from({ length: n }, (_, i) => i), `count(${n}) credit ${credit}`);
      }],
      [1, 'stream-error', async () => {
        const n = r.int(0, 20);
        const got: number[] = [];
        const err = await caught(async () => {
          for await (const x of c.stream<number>('failAfter', [n])) got.push(x);
        });
        same(got, Array.from({ length: n }, (_, i) => i), `failAfter(${n}) items`);
        sameError(err, { code: 'REMOTE', name: 'RangeError', message: `the stream broke after ${n}` });
      }],
      [3, 'bidi', async () => {
        const prefix = `p${r.int(0, 99)}:`;
        const lines = Array.from({ length: r.int(0, 100) }, (_, i) => `line ${i}`);
        const chat = c.bidi<string, string>('chat', [prefix]);
        const reading = (async () => {
          const out: string[] = [];
          for await (const x of chat) out.push(x);
          return out;
        })();
        for (const l of lines) await chat.send(l);
        chat.close();
        same(await reading, lines.map((l) => prefix + l), 'chat');
      }],
      [1, 'bidi-sum', async () => {
        const nums = Array.from({ length: r.int(1, 40) }, () => r.int(-100, 100));
        const sum = c.bidi<number, number>('runningSum', []);
        const reading = (async () => {
          const out: number[] = [];
          for await (const x of sum) out.push(x);
          return out;
        })();
        for (const n of nums) await sum.send(n);
        sum.close();
        let acc = 0;
        same(await reading, nums.map((n) => (acc += n)), 'runningSum');
      }],
      [2, 'remote-error', async () => {
        const msg = `teapot ${r.int(0, 1e6)}`;
        const err = await caught(() => c.call('fail', [msg]));
        sameError(err, { code: 'REMOTE', name: 'TeapotError', message: msg });
        same((err as RemoteError).data?.status, 418, 'fail: data.status');
      }],
      [1, 'invalid-argument', async () => {
        const err = await caught(() => c.call('add', ['x', 1]));
        sameError(err, { code: 'INVALID_ARGUMENT', name: 'AgentixError' });
        same(((err as RemoteError).data?.errors as { path: string }[] | undefined)?.map((e) => e.path), ['/0'], 'add("x"): error paths');
      }],
      [1, 'not-found', async () => {
        const err = await caught(() => c.call('noSuchFunction', []));
        sameError(err, { code: 'NOT_FOUND', name: 'AgentixError' });
        same((err as RemoteError).data?.target, 'noSuchFunction', 'NOT_FOUND data.target');
      }],
      [1, 'sleep', async () => {
        const ms = r.int(0, 20);
        same(await c.call('sleep', [ms]), `slept ${ms}`, `sleep(${ms})`);
      }],
      [1, 'deadline', async () => {
        sameError(await caught(() => c.call('sleep', [200], { timeoutMs: r.int(1, 20) })), { code: 'DEADLINE_EXCEEDED' });
      }],
      [1, 'cancel', async () => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), r.int(0, 10));
        sameError(await caught(() => c.call('waitForCancel', [], { signal: ac.signal })), { code: 'CANCELLED' });
      }],
      [1, 'pid', async () => {
        const p = await c.call<number>('pid', []);
        const known = this.opts.knownPids?.();
        if (known && !known.has(p)) throw new Mismatch(`pid() gave ${p}, not a worker of this server (${[...known].join(', ')})`);
      }],
    ];
  }
}

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    const v = await fn();
    throw new Mismatch(`expected an error, got ${describe(v)}`);
  } catch (err) {
    if (err instanceof Mismatch) throw err;
    return err;
  }
}

function sameError(err: unknown, want: { code: string; name?: string; message?: string }): void {
  if (!(err instanceof RemoteError)) throw new Mismatch(`expected RemoteError ${want.code}, got ${describeError(err)}`);
  if (err.code !== want.code || (want.name !== undefined && err.name !== want.name) || (want.message !== undefined && err.message !== want.message)) {
    throw new Mismatch(`expected ${want.name ?? ''} ${want.code} ${want.message ?? ''}, got ${describeError(err)}`);
  }
}

function same(got: unknown, want: unknown, what: string): void {
  if (!deepEqual(got, want)) throw new Mismatch(`${what}: expected ${describe(want)}, got ${describe(got)}`);
}

/** Deep equality for what the codec carries: plain objects, arrays, bytes, Dates, bigints. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Uint8Array || b instanceof Uint8Array) return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a as object), kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
    return (s ?? String(v)).slice(0, 200);
  } catch {
    return String(v).slice(0, 200);
  }
}

function describeError(err: unknown): string {
  if (err instanceof RemoteError) return `RemoteError ${err.name} ${err.code}: ${err.message.slice(0, 200)}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : describe(err);
}
