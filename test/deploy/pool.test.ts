/**
 * Warm pools on the local deployment: real runtime servers on 127.0.0.1.
 * A thin wrapper around the deployment counts and holds creations so the
 * tests can see what the pool asks for; every sandbox any test makes is
 * checked deleted (or deleted) before the test ends.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentixError, createPool, loadDeployment, RuntimeClient, type Deployment, type Pool, type Sandbox, type SandboxConfig } from '../../index.js';
import { alive, eventually, repoRoot } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const config: SandboxConfig = { image: '', bundle: project };

// Nothing the pool does in the background may reject unobserved, in any test of this file.
const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

/** The local deployment, with a record of what was asked of it and a gate that can hold creations. */
class Watched implements Deployment {
  readonly inner: Deployment;
  /** Every sandbox the backend made, in order. */
  readonly made: Sandbox[] = [];
  get created(): string[] {
    return this.made.map((sb) => sb.id);
  }
  attempts = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** This many creations fail before calling the backend. */
  failFirst = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(inner: Deployment) {
    this.inner = inner;
  }

  hold(): void {
    this.gate = new Promise((r) => (this.openGate = r));
  }

  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async create(c: SandboxConfig): Promise<Sandbox> {
    this.attempts++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate) await this.gate;
      if (this.failFirst > 0) {
        this.failFirst--;
        throw new Error('injected creation failure');
      }
      const sb = await this.inner.create(c);
      this.made.push(sb);
      return sb;
    } finally {
      this.inFlight--;
    }
  }

  /** The delete of these ids waits this long before it reaches the backend (a slow engine). */
  readonly slowDeletes = new Map<string, number>();
  /** Ids whose delete the backend has finished. */
  readonly deleted: string[] = [];

  async delete(id: string): Promise<void> {
    const delay = this.slowDeletes.get(id);
    if (delay) await sleep(delay);
    await this.inner.delete(id);
    this.deleted.push(id);
  }

  get(id: string) {
    return this.inner.get(id);
  }

  async state(id: string): Promise<string> {
    return (await this.inner.get(id)).state;
  }

  /** Deletes whatever a failed test left, so no server outlives the file. */
  async sweep(): Promise<void> {
    await Promise.all(this.created.map((id) => this.inner.delete(id).catch(() => undefined)));
  }
}

async function watched(): Promise<Watched> {
  return new Watched(new (await loadDeployment('local'))());
}

async function hello(sb: Sandbox): Promise<string> {
  const client = await RuntimeClient.connect(sb);
  try {
    return await client.call<string>('run', ['pool']);
  } finally {
    await client.close();
  }
}

async function serverPid(sb: Sandbox): Promise<number> {
  const client = await RuntimeClient.connect(sb);
  try {
    return await client.call<number>('parentPid', []);
  } finally {
    await client.close();
  }
}

async function warm(pool: Pool, idle: number): Promise<void> {
  assert.ok(await eventually(() => pool.stats().idle === idle, 60_000), `the pool reached ${idle} idle sandboxes: ${JSON.stringify(pool.stats())}`);
}

async function rejection(p: Promise<unknown>): Promise<AgentixError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentixError, `expected an AgentixError, got ${err}`);
  return err as AgentixError;
}

const pool = suite('warm pool (local deployment)');

pool('a warm pool hands out a sandbox it made before the claim, answering calls, and starts its replacement', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 2 });
  try {
    await warm(p, 2);
    const before = [...d.created];
    assert.is(before.length, 2);
    const sb = await p.claim();
    assert.ok(before.includes(sb.id), 'the claimed sandbox is one of those made ahead');
    assert.is(await hello(sb), 'hello pool');
    assert.is(p.stats().claimed, 1);
    await warm(p, 2);
    assert.is(d.created.length, 3, 'exactly one replacement was made');
    await p.release(sb);
    assert.is(await d.state(sb.id), 'deleted');
  } finally {
    await p.close();
    await d.sweep();
  }
  for (const id of d.created) assert.is(await d.state(id), 'deleted', `${id} deleted by close`);
});

pool('a released sandbox is deleted and never handed out again', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 1 });
  const seen = new Set<string>();
  try {
    for (let i = 0; i < 3; i++) {
      const sb = await p.claim();
      assert.not.ok(seen.has(sb.id), `sandbox ${sb.id} was handed out twice`);
      seen.add(sb.id);
      await p.release(sb);
      assert.is(await d.state(sb.id), 'deleted');
    }
    const again = await rejection(p.release({ id: [...seen][0]!, runtimeUrl: '', token: '', ports: {} }));
    assert.is(again.code, 'INVALID_ARGUMENT');
    assert.match(again.message, /not claimed from this pool, or was released already/);
  } finally {
    await p.close();
    await d.sweep();
  }
});

pool('close() waits for the deletion of a sandbox released without waiting, so nothing outlives a closed pool', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 1 });
  try {
    const sb = await p.claim();
    await warm(p, 1); // its replacement is idle: close() has nothing else to wait for
    d.slowDeletes.set(sb.id, 1_000);
    const released = p.release(sb); // a caller that does not await release, then closes the pool
    await p.close();
    assert.ok(d.deleted.includes(sb.id), 'close() returned before the released sandbox was deleted');
    await released;
    assert.is(await d.state(sb.id), 'deleted');
  } finally {
    await p.close().catch(() => undefined);
    await d.sweep();
  }
});

pool('an idle sandbox that died while idle is not handed out, and is deleted', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 2, concurrency: 1 });
  try {
    await warm(p, 2);
    // The pool hands out the oldest idle sandbox first: kill that one's server.
    const victim = d.created[0]!;
    const pid = await serverPid(d.made[0]!);
    process.kill(pid, 'SIGKILL');
    assert.ok(await eventually(() => !alive(pid)), 'the victim server is gone');
    const sb = await p.claim();
    assert.is.not(sb.id, victim);
    assert.is(await hello(sb), 'hello pool');
    assert.ok(await eventually(async () => (await d.state(victim)) === 'deleted'), 'the dead sandbox was deleted');
    await p.release(sb);
  } finally {
    await p.close();
    await d.sweep();
  }
});

pool('creation failures surface on claim as an AgentixError whose cause is the last failure, and never as an unhandled rejection', async () => {
  const d = await watched();
  // A runtime that never answers in time: every creation fails, after starting a real server.
  const p = createPool(d, { ...config, startupTimeoutMs: 1 }, { size: 2, concurrency: 1, attempts: 3, backoffMs: 5 });
  try {
    const err = await rejection(p.claim({ timeoutMs: 30_000 }));
    assert.is(err.code, 'UNAVAILABLE');
    assert.match(err.message, /3 sandbox creations in a row failed/);
    assert.match(err.message, /did not start within 1 ms/);
    assert.ok(err.cause instanceof Error && /did not start within 1 ms/.test(err.cause.message), 'the cause is the backend\'s own error');
    assert.is(d.attempts, 3, 'the pool stopped after its attempts');
    assert.is(p.stats().creating, 0);
    assert.ok(p.stats().lastError instanceof Error);
    // A later claim is a reason to try again, bounded the same way.
    const second = await rejection(p.claim({ timeoutMs: 30_000 }));
    assert.match(second.message, /3 sandbox creations in a row failed/);
    assert.is(d.attempts, 6);
  } finally {
    await p.close();
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(unhandled, [], 'no unhandled rejection');
});

pool('a config the backend refuses (a missing project) fails the claim at once with INVALID_ARGUMENT: retrying cannot help', async () => {
  const d = await watched();
  const p = createPool(d, { image: '', bundle: `${repoRoot}/fixtures/does-not-exist` }, { size: 2, concurrency: 1, attempts: 5, backoffMs: 5 });
  try {
    const err = await rejection(p.claim({ timeoutMs: 30_000 }));
    assert.is(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, /the backend refused the sandbox config/);
    assert.match(err.message, /does-not-exist does not exist/);
    assert.ok(err.cause instanceof AgentixError);
    assert.is(d.attempts, 1, 'one attempt, no retries');
  } finally {
    await p.close();
  }
});

pool('a creation that fails is retried with a pause until one succeeds', async () => {
  const d = await watched();
  d.failFirst = 2;
  const p = createPool(d, config, { size: 1, backoffMs: 5 });
  try {
    const sb = await p.claim();
    assert.is(await hello(sb), 'hello pool');
    assert.is(d.attempts >= 3, true, 'two failures, then a success');
    assert.is(p.stats().failures, 0, 'a success resets the failure count');
    await p.release(sb);
  } finally {
    await p.close();
    await d.sweep();
  }
});

pool('no more creations run at once than the pool\'s concurrency', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 4, concurrency: 2 });
  try {
    await warm(p, 4);
    assert.is(d.maxInFlight, 2);
  } finally {
    await p.close();
    await d.sweep();
  }
});

pool('claims beyond the size are served by creations run side by side, up to the concurrency, each a sandbox of its own', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 1, concurrency: 3 });
  let claims: Promise<Sandbox>[] = [];
  try {
    await warm(p, 1);
    d.hold();
    claims = [p.claim(), p.claim(), p.claim(), p.claim()];
    for (const c of claims) c.catch(() => undefined); // seen in finally; not an unhandled rejection meanwhile
    assert.ok(await eventually(() => d.inFlight === 3), `three creations at once for three waiting claims: ${d.inFlight}`);
    assert.is(p.stats().waiting, 3);
    d.open();
    const got = await Promise.all(claims);
    assert.is(new Set(got.map((sb) => sb.id)).size, 4, 'four different sandboxes');
    for (const sb of got) assert.is(await hello(sb), 'hello pool');
  } finally {
    d.open();
    await p.close();
    for (const r of await Promise.allSettled(claims)) if (r.status === 'fulfilled') await p.release(r.value);
    await d.sweep();
  }
});

pool('an idle sandbox older than maxIdleMs is deleted and replaced', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 1, maxIdleMs: 1_000 });
  try {
    await warm(p, 1);
    const first = d.created[0]!;
    assert.ok(await eventually(async () => (await d.state(first)) === 'deleted', 30_000), 'the expired sandbox was deleted');
    assert.ok(await eventually(() => d.created.length >= 2, 30_000), 'a replacement was made');
    const sb = await p.claim();
    assert.is.not(sb.id, first);
    await p.release(sb);
  } finally {
    await p.close();
    await d.sweep();
  }
});

pool('close deletes the idle sandboxes and those being created, and the waiting claims reject', async () => {
  const d = await watched();
  const p = createPool(d, config, { size: 2 });
  const claimed: Sandbox[] = [];
  try {
    await warm(p, 2);
    d.hold(); // the replacements wait at the gate
    claimed.push(await p.claim(), await p.claim());
    const waiting = p.claim();
    assert.ok(await eventually(() => p.stats().waiting === 1));
    const closing = p.close();
    const err = await rejection(waiting);
    assert.match(err.message, /the pool is closed/);
    d.open();
    await closing;
    const made = d.created.filter((id) => !claimed.some((c) => c.id === id));
    assert.ok(made.length >= 1, 'the creations held at the gate finished');
    for (const id of made) assert.is(await d.state(id), 'deleted', `${id} (made for the pool) deleted by close`);
    for (const c of claimed) assert.is(await d.state(c.id), 'running', 'claimed sandboxes stay the caller\'s');
    assert.match((await rejection(p.claim())).message, /the pool is closed/);
    for (const c of claimed) await p.release(c);
    for (const c of claimed) assert.is(await d.state(c.id), 'deleted');
  } finally {
    d.open();
    await p.close();
    await d.sweep();
  }
});

pool('await using closes the pool at the end of the block', async () => {
  const d = await watched();
  try {
    {
      await using p = createPool(d, config, { size: 1 });
      await warm(p, 1);
    }
    assert.is(d.created.length, 1);
    assert.is(await d.state(d.created[0]!), 'deleted');
  } finally {
    await d.sweep();
  }
});

pool('a claim gives up at its timeout or when its signal aborts, and the sandbox it waited for stays in the pool', async () => {
  const d = await watched();
  d.hold();
  const p = createPool(d, config, { size: 1 });
  try {
    // (unbounded, it had not returned at all: fresh sandboxes kept arriving idle, each looked at for 1 s)
    let guardTimer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => (guardTimer = setTimeout(() => reject(new Error('the claim was still pending 15 s after its timeoutMs of 50 ms')), 15_000)));
    const late = await rejection(Promise.race([p.claim({ timeoutMs: 50 }), guard])).finally(() => clearTimeout(guardTimer));
    assert.is(late.code, 'DEADLINE_EXCEEDED');
    assert.match(late.message, /no sandbox was ready within 50 ms/);
    const ac = new AbortController();
    const cancelled = p.claim({ signal: ac.signal });
    ac.abort();
    assert.is((await rejection(cancelled)).code, 'CANCELLED');
    assert.is(p.stats().waiting, 0);
    d.open();
    await warm(p, 1);
    assert.is(d.created.length, 1, 'no extra sandbox was made for the claims that left');
  } finally {
    d.open();
    await p.close();
    await d.sweep();
  }
});

pool('bad options are refused with an error naming the option', async () => {
  const d = await watched();
  const bad = (opts: object, re: RegExp) => {
    try {
      createPool(d, config, opts as never);
    } catch (err) {
      assert.ok(err instanceof AgentixError);
      assert.is((err as AgentixError).code, 'INVALID_ARGUMENT');
      assert.match((err as Error).message, re);
      return;
    }
    assert.unreachable(`createPool accepted ${JSON.stringify(opts)}`);
  };
  bad({ size: 0 }, /`size` must be a whole number, at least 1, got 0/);
  bad({ size: 2, concurrency: 1.5 }, /`concurrency`/);
  bad({ size: 2, maxIdleMs: -1 }, /`maxIdleMs` must be a positive number/);
  bad({ size: 2, attempts: 0 }, /`attempts`/);
  bad({ size: 2, closeTimeoutMs: 0 }, /`closeTimeoutMs` must be a positive number/);
  assert.is(d.attempts, 0, 'nothing was created');
});

/** A pure in-memory backend for what the local deployment cannot be made to do: its create is given per test. */
function fakeDeployment(create: (c: SandboxConfig) => Promise<Sandbox>): Deployment & { creates: number; deletes: string[] } {
  const d = {
    creates: 0,
    deletes: [] as string[],
    create(c: SandboxConfig) {
      d.creates++;
      return create(c);
    },
    async delete(id: string) {
      d.deletes.push(id);
    },
    async get(id: string) {
      return { id, state: 'unknown' as const };
    },
  };
  return d as never;
}

pool('a backend whose create throws synchronously fails the claim instead of spinning the thread', async () => {
  const d = fakeDeployment(() => {
    throw new Error('sync create failure');
  });
  const p = createPool(d, config, { size: 1, attempts: 2, backoffMs: 1 });
  try {
    const err = await rejection(p.claim({ timeoutMs: 5_000 }));
    assert.is(err.code, 'UNAVAILABLE');
    assert.match(err.message, /sync create failure/);
    assert.is(d.creates, 2, 'one creation per attempt, no more');
  } finally {
    await p.close();
  }
});

pool('a backend whose delete returns no promise (a synchronous one in plain JS) still has release() resolve once it deleted', async () => {
  const d = fakeDeployment(async () => ({ id: `fake-${d.creates}`, runtimeUrl: '', token: '', ports: {} }));
  d.delete = ((id: string) => void d.deletes.push(id)) as never;
  const p = createPool(d, config, { size: 1 });
  try {
    const sb = await p.claim({ timeoutMs: 5_000 });
    await p.release(sb); // before: TypeError, reading .then of the undefined that delete returned
    assert.ok(d.deletes.includes(sb.id));
  } finally {
    await p.close();
  }
});

pool('a wait longer than a timer can hold is waited for, not turned into an immediate expiry or timeout', async () => {
  // Node fires a setTimeout above 2^31-1 ms after 1 ms: maxIdleMs 3e9 made the pool delete and
  // recreate its sandbox every millisecond, and a claim with timeoutMs 3e9 timed out at once.
  const d = fakeDeployment(async () => (await sleep(50), { id: `fake-${d.creates}`, runtimeUrl: '', token: '', ports: {} }));
  const p = createPool(d, config, { size: 1, maxIdleMs: 3e9 });
  try {
    const got = await p.claim({ timeoutMs: 3e9 });
    assert.match(got.id, /^fake-/);
    await sleep(200);
    assert.ok(d.creates <= 2, `the idle replacement was not expired and made again: ${d.creates} creations`);
    assert.equal(d.deletes, [], 'nothing expired');
  } finally {
    await p.close();
  }
});

pool('a backend whose create resolves to something that is not a sandbox fails the claim with an error saying so', async () => {
  const d = fakeDeployment(async () => undefined as never);
  const p = createPool(d, config, { size: 1, attempts: 2, backoffMs: 1 });
  try {
    const err = await rejection(p.claim({ timeoutMs: 5_000 }));
    assert.is(err.code, 'UNAVAILABLE');
    assert.match(err.message, /create\(\) resolved to undefined, not a Sandbox/);
    assert.is(d.creates, 2);
  } finally {
    await p.close();
  }
});

pool('close() gives up after closeTimeoutMs on a create() that never settles, and deletes the sandbox if it still arrives', async () => {
  let arrive: (sb: Sandbox) => void = () => undefined;
  const d = fakeDeployment(() => new Promise<Sandbox>((resolve) => (arrive = resolve)));
  const p = createPool(d, config, { size: 1, closeTimeoutMs: 100 });
  const err = await rejection(p.close());
  assert.is(err.code, 'DEADLINE_EXCEEDED');
  assert.match(err.message, /1 creation\(s\) or deletion\(s\) had not finished after closeTimeoutMs \(100 ms\)/);
  arrive({ id: 'late-1', runtimeUrl: '', token: '', ports: {} } as Sandbox);
  assert.ok(await eventually(() => d.deletes.includes('late-1'), 5_000), 'the sandbox that arrived after close was deleted');
  assert.is(await rejection(p.claim()).then((e) => e.code), 'UNAVAILABLE', 'the pool stays closed');
});

pool("a claim's timeoutMs and signal also bound its health look at an idle sandbox that accepts and never answers", async () => {
  // a frozen sandbox (docker pause, a stopped host) still accepts on its port: each look took its
  // full 1 s, idle sandbox after idle sandbox, and timeoutMs only counted from the wait after them
  const sockets = new Set<Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const d = fakeDeployment(async () => ({ id: `fake-${d.creates}`, runtimeUrl: url, token: '', ports: {} }));
  const p = createPool(d, config, { size: 2 });
  try {
    assert.ok(await eventually(() => p.stats().idle === 2, 5_000), 'the pool filled');
    // (unbounded, it had not returned at all: fresh sandboxes kept arriving idle, each looked at for 1 s)
    let guardTimer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => (guardTimer = setTimeout(() => reject(new Error('the claim was still pending 15 s after its timeoutMs of 50 ms')), 15_000)));
    const late = await rejection(Promise.race([p.claim({ timeoutMs: 50 }), guard])).finally(() => clearTimeout(guardTimer));
    assert.is(late.code, 'DEADLINE_EXCEEDED', late.message);
    const ac = new AbortController();
    const cancelled = rejection(p.claim({ signal: ac.signal }));
    await sleep(20);
    ac.abort();
    assert.is((await cancelled).code, 'CANCELLED');
  } finally {
    await p.close();
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

pool.after(() => {
  assert.equal(unhandled, [], 'no unhandled rejection in this file');
});

pool.run();

