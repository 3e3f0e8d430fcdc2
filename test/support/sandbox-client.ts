/**
 * A sandbox of any deployment with a client connected to it, and the one
 * cleanup that closes the client and deletes the sandbox (also when
 * connecting fails): what the plugin suite's `connect` returns; and the
 * scoped forms of both, and the check that a sandbox is fully callable.
 */
import * as assert from 'uvu/assert';
import type { Deployment, Sandbox, SandboxConfig } from '../../deploy/types.js';
import { RuntimeClient } from '../../runtime/client/client.js';

export interface SandboxClient {
  client: RuntimeClient;
  cleanup: () => Promise<void>;
}

export async function connectSandbox(deployment: Deployment, config: SandboxConfig): Promise<SandboxClient> {
  const sandbox = await deployment.create(config);
  try {
    const client = await RuntimeClient.connect(sandbox);
    return {
      client,
      cleanup: async () => {
        try {
          await client.close();
        } finally {
          await deployment.delete(sandbox.id);
        }
      },
    };
  } catch (err) {
    await deployment.delete(sandbox.id);
    throw err;
  }
}

/** Runs `fn` with a client of `sandbox`, closed afterwards whatever happens. */
export async function withClient<T>(sandbox: Sandbox, fn: (c: RuntimeClient) => Promise<T>): Promise<T> {
  const client = await RuntimeClient.connect(sandbox);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Runs `fn` with a fresh sandbox of `deployment`, deleted afterwards whatever happens. */
export async function withSandbox<T>(deployment: Deployment, config: SandboxConfig, fn: (s: Sandbox) => Promise<T>): Promise<T> {
  const sandbox = await deployment.create(config);
  try {
    return await fn(sandbox);
  } finally {
    await deployment.delete(sandbox.id);
  }
}

/**
 * Every call shape and both plugins through `c`, against the sandbox
 * fixture's functions (test/deploy/sandbox-fixture): what "fully callable"
 * means for a sandbox, whatever its network.
 */
export async function assertFullyCallable(c: RuntimeClient, tag: string): Promise<void> {
  assert.is(await c.call('hello', [tag]), `hello ${tag}`);
  const items: number[] = [];
  for await (const n of c.stream<number>('count', [3])) items.push(n);
  assert.equal(items, [0, 1, 2]);
  const chat = c.bidi<string, string>('chat', ['> ']);
  const it = chat[Symbol.asyncIterator]();
  await chat.send('a');
  assert.equal(await it.next(), { value: '> a', done: false });
  await chat.send('b');
  assert.equal(await it.next(), { value: '> b', done: false });
  chat.close();
  assert.is((await it.next()).done, true);
  assert.is((await c.call<{ stdout: string }>('bash.run', ['echo $((6 * 7))'])).stdout, '42\n');
  assert.equal(await c.call('files.write', [`${tag}.txt`, 'hi']), { bytes: 2 });
  assert.is(Buffer.from(await c.call<Uint8Array>('files.read', [`${tag}.txt`])).toString(), 'hi');
}

/**
 * A sandbox made with `lifetimeMs: 2^32` is still running and answering
 * well after the 1 ms that Node makes of a timer longer than 2^31-1 ms:
 * the check every backend's lifetime timer must pass.
 */
export async function assertLongLifetimeKept(deployment: Deployment, config: SandboxConfig): Promise<void> {
  await withSandbox(deployment, { ...config, lifetimeMs: 2 ** 32 }, async (sandbox) => {
    await new Promise((r) => setTimeout(r, 500)); // far more than the 1 ms an overflowed timer waits
    assert.is((await deployment.get(sandbox.id)).state, 'running');
    await withClient(sandbox, async (c) => assert.is(await c.call('hello', ['still here']), 'hello still here'));
  });
}
