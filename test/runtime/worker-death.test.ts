/**
 * A worker killed for hanging (a synchronous loop past its deadline) takes
 * only the call that hung with it: the server keeps reading every client,
 * calls that were only queued run on the next worker, and calls that had
 * already finished keep their answers. Restarts are counted exactly from the
 * fixture's worker log (fixtures/fuzz).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import { BareClient, Recorder } from '../support/fuzz/raw.js';
import { serveFuzz, type FuzzServed } from '../support/fuzz/serve-fuzz.js';
import { eventually } from '../support/serve.js';

const death = suite('worker death');
let server: FuzzServed;

death.after.each(async () => {
  await server?.stop();
});

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: RemoteError) => e.code);

death('after the worker is killed while the pipe to it is full, the server reads its clients again', async () => {
  server = await serveFuzz();
  const spinner = await RuntimeClient.connect(server.url, { token: server.token });
  const flooder = await Recorder.open(server.url, server.token);
  try {
    await spinner.call('add', [1, 1]);
    // A call that stays open, and 100k CREDIT frames for it sent while the worker spins: they fill the pipe to the worker.
    flooder.send(encode([1, 1, 0, 'waitForCancel', []]));
    await new Promise((r) => setTimeout(r, 100));
    const spun = code(spinner.call('spin', [], { timeoutMs: 300 }));
    await new Promise((r) => setTimeout(r, 50));
    const credit = encode([5, 1, 1]);
    for (let i = 0; i < 100_000; i++) flooder.send(credit);
    assert.is(await spun, 'DEADLINE_EXCEEDED');
    assert.ok(await eventually(() => server.workers().length === 2, 15_000), 'a new worker started');
    const fresh = await RuntimeClient.connect(server.url, { token: server.token });
    try {
      const pid = await fresh.call<number>('pid', [], { timeoutMs: 5000 }).catch((e: RemoteError) => e.code);
      assert.is(pid, server.workers()[1], 'a client connecting after the restart is served by the new worker');
      assert.is(await spinner.call('add', [2, 3], { timeoutMs: 5000 }).catch((e: RemoteError) => e.code), 5, 'a client from before the restart is served too');
    } finally {
      await fresh.close();
    }
    assert.is(server.workers().length, 2, 'exactly one restart');
  } finally {
    flooder.close();
    await spinner.close();
  }
});

death('calls other connections send while a synchronous loop hangs run on the next worker: none fails, one restart', async () => {
  server = await serveFuzz();
  const spinner = await RuntimeClient.connect(server.url, { token: server.token });
  const others = await Promise.all([0, 1, 2].map(() => RuntimeClient.connect(server.url, { token: server.token })));
  try {
    await Promise.all([spinner, ...others].map((c) => c.call('add', [0, 0])));
    const spun = code(spinner.call('spin', [], { timeoutMs: 300 }));
    await new Promise((r) => setTimeout(r, 50));
    // Sent while the worker spins: queued behind the loop, never started by that worker.
    const results = await Promise.all(others.flatMap((c, k) => Array.from({ length: 50 }, (_, i) => c.call<number>('add', [k, i]).then((v) => v === k + i ? 'ok' : `wrong ${v}`, (e: RemoteError) => e.code))));
    assert.is(await spun, 'DEADLINE_EXCEEDED');
    assert.equal(results.filter((r) => r !== 'ok'), [], 'every queued call got its own answer');
    assert.is(server.workers().length, 2, 'exactly one restart');
  } finally {
    for (const c of [spinner, ...others]) await c.close();
  }
});

death('calls that finished just before a call hangs keep their answers when the worker is killed', async () => {
  // A short hang grace, so each of the rounds below costs a fifth of a second of hanging, not a second.
  server = await serveFuzz({ AGENTIX_HANG_GRACE_MS: '200' });
  const bare = await BareClient.open(server.url, server.token);
  const until = (check: () => boolean, ms = 15_000) => eventually(check, ms, 10);
  const ROUNDS = 8;
  try {
    bare.send(encode([1, 1, 0, 'add', [1, 1]]));
    assert.ok(await until(() => bare.finals(1).length === 1), 'warm-up answered');
    const lost: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Twenty quick calls and then the loop, in one write: the worker usually takes them in one slice of work.
      const base = 1000 * (round + 1);
      const spinId = base + 999;
      bare.sendAll([...Array.from({ length: 20 }, (_, i) => encode([1, base + i, 0, 'add', [i, 1]])), encode([1, spinId, 300, 'spin', []])]);
      assert.ok(await until(() => bare.finals(spinId).length === 1), `round ${round}: the loop got its final`);
      assert.is((bare.finals(spinId)[0]![2] as { code: string }).code, 'DEADLINE_EXCEEDED');
      assert.ok(await until(() => Array.from({ length: 20 }, (_, i) => bare.finals(base + i).length).every((n) => n === 1)), `round ${round}: every quick call got one final`);
      for (let i = 0; i < 20; i++) {
        const m = bare.finals(base + i)[0]!;
        if (m[0] !== 16) lost.push(`round ${round}, call ${m[1]}: ${(m[2] as { code?: string }).code}`);
      }
      assert.ok(await until(() => server.workers().length === round + 2), `round ${round}: a new worker started`);
      // The next round starts once the new worker answers (a loop queued while it starts would only time out).
      bare.send(encode([1, base + 500, 0, 'add', [0, 0]]));
      assert.ok(await until(() => bare.finals(base + 500).length === 1), `round ${round}: the new worker answers`);
    }
    assert.equal(lost, [], 'finished calls were answered with their result, not WORKER_EXITED');
    await new Promise((r) => setTimeout(r, 200));
    assert.is(server.workers().length, ROUNDS + 1, 'exactly one restart per loop');
  } finally {
    bare.destroy();
  }
});

death.run();
