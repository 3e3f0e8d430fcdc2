/**
 * A runtime without a network: it listens on a Unix socket
 * (AGENTIX_BIND_SOCKET) and RuntimeClient.connect takes the ws+unix:// URL it
 * announces. /health answers over the same socket.
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { repoRoot, serve } from '../support/serve.js';

test('every call shape works over a Unix socket any local user may open, and /health answers there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-unix-'));
  const socketPath = join(dir, 'runtime.sock');
  const server = await serve(`${repoRoot}/fixtures/runtime`, { noGen: true, env: { AGENTIX_BIND_SOCKET: socketPath } });
  try {
    assert.is(server.url, `ws+unix://${socketPath}`);
    // whatever the umask: a host user other than the sandbox's can connect (the token is the check)
    assert.is((statSync(socketPath).mode & 0o777).toString(8), '666');
    const client = await RuntimeClient.connect(server.url, { token: server.token });
    assert.is(await client.call('run', ['unix']), 'hello unix');
    const items: number[] = [];
    for await (const n of client.stream<number>('count', [3])) items.push(n);
    assert.equal(items, [0, 1, 2]);
    const c = client.bidi<string, string>('chat', ['> ']);
    await c.send('hi');
    c.close();
    const out: string[] = [];
    for await (const o of c) out.push(o);
    assert.equal(out, ['> hi']);
    await client.close();
    const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ socketPath, path: '/health' }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
      }).on('error', reject).end();
    });
    assert.is(health.status, 200);
    assert.is(JSON.parse(health.body).ok, true);
    const refused = await RuntimeClient.connect(server.url, { token: 'wrong' }).then(() => undefined, (e: RemoteError) => e);
    assert.is(refused?.code, 'UNAUTHENTICATED');
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
