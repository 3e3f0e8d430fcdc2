/**
 * A send-queue bound below the socket's own write buffer (AGENTIX_SEND_QUEUE_BYTES may be as low as
 * 1024): a client that reads at full speed must still get everything. The connection becomes congested
 * as soon as more than the bound is queued, but the socket never reports 'drain' for writes it took
 * without filling its buffer, so congestion must also end when what was queued has left.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RuntimeClient, type LogEvent } from '../../index.js';
import { repoRoot, serve, type Served } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
let server: Served;
let client: RuntimeClient;

const small = suite('small send queue');
small.before(async () => {
  server = await serve(project, { noGen: true, env: { AGENTIX_SEND_QUEUE_BYTES: '4096', AGENTIX_STUCK_CLIENT_MS: '60000' } });
  client = await RuntimeClient.connect(server.url, { token: server.token });
});
small.after(async () => {
  await client?.close();
  await server?.stop();
});

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);

small('a reading client gets every item of a stream that goes past a 4 KiB send-queue bound', async () => {
  let n = 0;
  const all = (async () => {
    for await (const item of client.stream<Uint8Array>('flood', [200, 1000])) {
      assert.is(item.length, 1000);
      n++;
    }
  })();
  await within(all, 15_000, `stream (got ${n} of 200 items)`);
  assert.is(n, 200);
});

small('after a burst past the bound, output of a later call is delivered, not dropped as if the client were still congested', async () => {
  // The burst: 20 results of 3000 bytes at once.
  await within(Promise.all(Array.from({ length: 20 }, () => client.call<Uint8Array>('makeBytes', [3000]))), 15_000, 'burst');
  const logs: string[] = [];
  const onLog = (e: LogEvent) => logs.push(e.text);
  client.on('log', onLog);
  try {
    // Well after the burst has been read, a call's one short line must arrive.
    await new Promise((r) => setTimeout(r, 300));
    assert.is(await within(client.call<string>('speak', ['hello after the burst']), 15_000, 'speak'), 'spoke');
    const seen = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 3000);
      const check = setInterval(() => {
        if (logs.some((l) => l.includes('hello after the burst'))) {
          clearTimeout(t);
          clearInterval(check);
          resolve(true);
        }
      }, 20);
      t.unref?.();
    });
    assert.ok(seen, `the line arrived (logs: ${JSON.stringify(logs)})`);
  } finally {
    client.off('log', onLog);
  }
});

small.run();
