/**
 * What a client that reads slowly, or not at all, may cost the sandbox
 * (docs/protocol.md, "Slow clients and bounds"): past the send queue bound
 * (8 MiB) the server stops reading it and the worker stops starting its calls
 * and pulling its streams, so neither process holds much more than that; a
 * client stuck past AGENTIX_STUCK_CLIENT_MS is disconnected. A fast client
 * that grants a large credit must not make the worker buffer the whole stream
 * nor stop answering its heartbeats either.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { encode } from '../../runtime/wire/codec.js';
import { MemorySampler, mib } from '../support/fuzz/proc.js';
import { BareClient } from '../support/fuzz/raw.js';
import { serveFuzz, type FuzzServed } from '../support/fuzz/serve-fuzz.js';
import { eventually } from '../support/serve.js';

const slow = suite('slow readers');
let server: FuzzServed | undefined;

slow.after.each(async () => {
  await server?.stop();
  server = undefined;
});

const MiB = 1024 * 1024;

slow('a client that never reads while 800 calls return 1 MiB each costs the server and the worker under 300 MiB each', async () => {
  server = await serveFuzz({ AGENTIX_STUCK_CLIENT_MS: '60000' });
  const s = server;
  const probe = await RuntimeClient.connect(s.url, { token: s.token });
  const bare = await BareClient.open(s.url, s.token);
  const memory = new MemorySampler(s.pid, 50);
  try {
    await probe.call('makeBytes', [1]);
    bare.pause();
    // 800 CALLs in one write (about 30 KB): the server has them all before the first result is back.
    bare.sendAll(Array.from({ length: 800 }, (_, i) => encode([1, i + 1, 0, 'makeBytes', [MiB]])));
    // Until the results stop moving (the client's queue is full and everything else is held back), up to 8 s.
    let last = -1;
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const m = memory.sample();
      if (m.serverLast === last) break;
      last = m.serverLast;
    }
    assert.is(await probe.call('add', [2, 3], { timeoutMs: 10_000 }).catch((e: RemoteError) => e.code), 5, 'another client is served meanwhile');
    const m = memory.stop();
    assert.ok(m.serverPeak < 300 * MiB, `server RSS peaked at ${mib(m.serverPeak)} MiB`);
    assert.ok(m.workerPeak < 300 * MiB, `worker RSS peaked at ${mib(m.workerPeak)} MiB`);
  } finally {
    memory.stop();
    bare.destroy();
    await probe.close();
  }
});

slow('a stream read at full speed with a credit of 1000 × 1 MiB does not make the worker hold the whole stream', async () => {
  server = await serveFuzz();
  const s = server;
  const client = await RuntimeClient.connect(s.url, { token: s.token });
  const memory = new MemorySampler(s.pid, 20);
  try {
    let items = 0;
    for await (const chunk of client.stream<Uint8Array>('flood', [1000, MiB], { credit: 1000 })) {
      assert.is(chunk.length, MiB);
      items++;
    }
    assert.is(items, 1000);
    const m = memory.stop();
    assert.ok(m.workerPeak < 400 * MiB, `worker RSS peaked at ${mib(m.workerPeak)} MiB while it streamed 1000 MiB`);
  } finally {
    memory.stop();
    await client.close();
  }
});

slow('fast streams with a large credit leave the worker answering heartbeats: a cancelled call elsewhere gets it killed only if it hung', async () => {
  // A short hang grace: a worker that runs its streams without letting its event loop turn for 300 ms is judged hung.
  server = await serveFuzz({ AGENTIX_HANG_GRACE_MS: '300' });
  const s = server;
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => RuntimeClient.connect(s.url, { token: s.token })));
  try {
    await Promise.all([a!.call('add', [0, 0]), b!.call('add', [0, 0]), c!.call('add', [0, 0])]);
    const ac = new AbortController();
    const waiting = b!.call('waitForCancel', [], { signal: ac.signal }).catch((e: RemoteError) => e.code);
    const running = c!.call('sleep', [200], { timeoutMs: 20_000 }).catch((e: RemoteError) => e.code);
    const streams = [0, 1, 2].map(async () => {
      let n = 0;
      for await (const _ of a!.stream<number>('count', [100_000], { credit: 100_000 })) n++;
      return n;
    });
    await new Promise((r) => setTimeout(r, 30));
    ac.abort(); // a call the worker owes an answer to at once, while the streams run
    assert.equal(await Promise.all(streams), [100_000, 100_000, 100_000]);
    assert.is(await waiting, 'CANCELLED');
    assert.is(await running, 'slept 200', 'a call running beside the streams was not failed by a restart');
    await new Promise((r) => setTimeout(r, 500));
    assert.is(s.workers().length, 1, 'the worker was not killed as hung');
  } finally {
    for (const x of [a, b, c]) await x?.close();
  }
});

slow('a client stuck past AGENTIX_STUCK_CLIENT_MS is disconnected, and the worker lets go of what it held for it', async () => {
  server = await serveFuzz({ AGENTIX_STUCK_CLIENT_MS: '2000' });
  const s = server;
  const bare = await BareClient.open(s.url, s.token);
  const probe = await RuntimeClient.connect(s.url, { token: s.token });
  try {
    await probe.call('add', [0, 0]);
    bare.pause();
    bare.sendAll([encode([1, 1, 0, 'flood', [1000, MiB]]), encode([1, 2, 0, 'waitForCancel', []])]);
    // A paused socket does not see the close; the server's own count does.
    const connections = async () => ((await (await fetch(new URL('/health', s.url.replace('ws:', 'http:')))).json()) as { connections: number }).connections;
    assert.is(await connections(), 2);
    let left = 2;
    assert.ok(await eventually(async () => (left = await connections()) === 1, 15_000, 200), `the server disconnected the stuck client (${left} connections left)`);
    assert.is(await probe.call('add', [2, 3], { timeoutMs: 10_000 }).catch((e: RemoteError) => e.code), 5);
    assert.is(s.workers().length, 1, 'the worker was not replaced');
  } finally {
    bare.destroy();
    await probe.close();
  }
});

slow.run();
