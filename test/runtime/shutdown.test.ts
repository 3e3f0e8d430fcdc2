/** SIGTERM finishes or fails in-flight calls, says goodbye, exits, and leaves no worker behind. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RemoteError, RuntimeClient } from '../../index.js';
import { alive, eventually, repoRoot, serve } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const shutdown = suite('shutdown');

shutdown('SIGTERM lets a short call finish, sends goodbye, exits 0 and stops the worker', async () => {
  const server = await serve(project, { noGen: true });
  const client = await RuntimeClient.connect(server.url, { token: server.token });
  try {
    const workerPid = await client.call<number>('pid', []);
    const goodbye = new Promise<string>((r) => client.once('goodbye', r));
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    const inFlight = client.call('sleep', [300]);
    await new Promise((r) => setTimeout(r, 50));
    const exit = server.stop('SIGTERM');
    assert.match(await goodbye, /SIGTERM/);
    assert.is(await inFlight, 'slept 300');
    await closed;
    assert.equal(await exit, { code: 0, signal: null });
    assert.ok(await eventually(() => !alive(workerPid)), 'worker gone');
    const late = (await client.call('run', ['late']).catch((e) => e)) as RemoteError;
    assert.is(late.code, 'UNAVAILABLE');
  } finally {
    await client.close();
    await server.stop('SIGKILL');
  }
});

shutdown('past AGENTIX_LIFETIME_MS the server shuts itself down, as on SIGTERM', async () => {
  // The lifetime counts from the server's start: on a loaded machine the first call can take a while,
  // so the goodbye is listened for from the connection on, and the lifetime leaves room for that call.
  const server = await serve(project, { noGen: true, env: { AGENTIX_LIFETIME_MS: '3000' } });
  const client = await RuntimeClient.connect(server.url, { token: server.token });
  const goodbye = new Promise<string>((r) => client.once('goodbye', r));
  try {
    const workerPid = await client.call<number>('pid', []);
    assert.match(await goodbye, /lifetime/);
    assert.equal(await server.stop('SIGCONT'), { code: 0, signal: null }, 'it exited by itself, cleanly');
    assert.ok(await eventually(() => !alive(workerPid)), 'worker gone');
  } finally {
    await client.close();
    await server.stop('SIGKILL');
  }
});

shutdown('a call longer than the shutdown grace fails with a clear UNAVAILABLE error', async () => {
  const server = await serve(project, { noGen: true, env: { AGENTIX_SHUTDOWN_GRACE_MS: '200' } });
  const client = await RuntimeClient.connect(server.url, { token: server.token });
  try {
    const workerPid = await client.call<number>('pid', []);
    const inFlight = client.call('sleep', [60_000]).catch((e) => e);
    await new Promise((r) => setTimeout(r, 50));
    const exit = server.stop('SIGTERM');
    const err = (await inFlight) as RemoteError;
    assert.is(err.code, 'UNAVAILABLE');
    assert.match(err.message, /shutting down|SIGTERM/);
    assert.equal(await exit, { code: 0, signal: null });
    assert.ok(await eventually(() => !alive(workerPid)), 'worker gone');
  } finally {
    await client.close();
    await server.stop('SIGKILL');
  }
});

shutdown('when the server is killed outright, its worker exits by itself', async () => {
  const server = await serve(project, { noGen: true });
  const client = await RuntimeClient.connect(server.url, { token: server.token });
  const workerPid = await client.call<number>('pid', []);
  const pending = client.call('sleep', [60_000]).catch((e) => e);
  await server.stop('SIGKILL');
  assert.is(((await pending) as RemoteError).code, 'UNAVAILABLE');
  assert.ok(await eventually(() => !alive(workerPid), 5000), 'no orphan worker');
  await client.close();
});

shutdown('a worker that cannot start makes the server exit with the reason, instead of hanging', async () => {
  const err = (await serve(project, { noGen: true, env: { AGENTIX_WORKER_ENTRY: '/nonexistent/worker.js' } }).catch((e) => e)) as Error;
  assert.instance(err, Error);
  assert.match(err.message, /exited with 1 before listening/);
  assert.match(err.message, /died 3 times before it was ready/);
  assert.match(err.message, /nonexistent/);
});

shutdown.run();
