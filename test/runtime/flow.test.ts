/** Flow control: a fast producer and a slow consumer keep the server's and the worker's memory bounded. */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RuntimeClient } from '../../index.js';
import { repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const MiB = 1024 * 1024;
/** Stated bound: neither process may grow by more than this while the consumer lags (the window is 32 × 256 KiB = 8 MiB). */
const GROWTH_BOUND = 96 * MiB;

let server: Served;
let client: RuntimeClient;
let probe: RuntimeClient;

const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

const flow = suite('flow control');
flow.before(async () => {
  server = await serve(project, { noGen: true });
  client = await RuntimeClient.connect(server.url, { token: server.token });
  probe = await RuntimeClient.connect(server.url, { token: server.token });
});
flow.after(async () => {
  await client?.close();
  await probe?.close();
  await server?.stop();
});

flow('a slow consumer of a fast stream keeps server and worker memory bounded', async () => {
  const serverPid = server.child.pid!;
  await probe.call('run', ['warm']);
  const worker0 = (await probe.call<{ rss: number }>('memory', [])).rss;
  const server0 = rss(serverPid);
  // 20 000 items of 256 KiB would be 5 GiB if anybody buffered without bound.
  let seen = 0;
  let peakServer = server0;
  let peakWorker = worker0;
  for await (const chunk of client.stream<Uint8Array>('flood', [20_000, 256 * 1024], { credit: 32 })) {
    assert.is(chunk.length, 256 * 1024);
    seen++;
    if (seen % 10 === 0) {
      await new Promise((r) => setTimeout(r, 50)); // the consumer is slow
      peakServer = Math.max(peakServer, rss(serverPid));
      peakWorker = Math.max(peakWorker, (await probe.call<{ rss: number }>('memory', [])).rss);
    }
    if (seen === 300) break;
  }
  assert.is(seen, 300);
  const grewServer = peakServer - server0;
  const grewWorker = peakWorker - worker0;
  assert.ok(grewServer < GROWTH_BOUND, `server RSS grew by ${(grewServer / MiB).toFixed(1)} MiB (bound ${GROWTH_BOUND / MiB} MiB)`);
  assert.ok(grewWorker < GROWTH_BOUND, `worker RSS grew by ${(grewWorker / MiB).toFixed(1)} MiB (bound ${GROWTH_BOUND / MiB} MiB)`);
});

flow('a bidi inbox fed faster than the function reads stays within its window', async () => {
  // chat reads its inbox one item per yield; the client may only have 64 unacknowledged items out.
  const c = client.bidi<string, string>('chat', ['']);
  const big = 'x'.repeat(64 * 1024);
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 400; i++) sends.push(c.send(big));
  c.close();
  let n = 0;
  for await (const o of c) {
    assert.is(o.length, big.length);
    n++;
  }
  await Promise.all(sends);
  assert.is(n, 400);
});

flow.run();
