/**
 * The local deployment's sandbox options under hostile or unusual input, with
 * real server processes: a lifetime longer than a Node timer can hold does
 * not end the sandbox at once; a server that cannot even be spawned (no such
 * working directory, no `unshare` on the sandbox's PATH) fails `create` with a
 * clear error instead of crashing the host process with an unhandled 'error'
 * event, and leaves no temp dir behind; `env` cannot override the variables
 * the deployment sets for the runtime (its token, address, lifetime); a FIFO
 * or a Unix socket in the working directory does not make snapshots fail.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalDeployment } from '../../deploy/local.js';
import { unshareProblem } from '../../deploy/local-network.js';
import { RuntimeClient } from '../../runtime/client/client.js';
import { rejects } from '../support/assert.js';
import { repoRoot } from '../support/serve.js';
import { assertLongLifetimeKept } from '../support/sandbox-client.js';

const ctx = {} as { temp: string; project: string };
const myTempDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith('agentix-local-') && n.includes(`-${process.pid}-`));

const test = suite('local deployment: sandbox options under hostile input');
test.before(() => {
  ctx.temp = mkdtempSync(join(tmpdir(), 'agentix-local-hostile-test-'));
  ctx.project = join(ctx.temp, 'p');
  cpSync(join(repoRoot, 'test/deploy/sandbox-fixture'), ctx.project, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
  symlinkSync(join(repoRoot, 'node_modules'), join(ctx.project, 'node_modules'));
});
test.after(() => rmSync(ctx.temp, { recursive: true, force: true }));

test('a lifetimeMs longer than a Node timer holds (2^32 ms) does not delete the sandbox at once', () =>
  assertLongLifetimeKept(new LocalDeployment(), { image: '', bundle: ctx.project, startupTimeoutMs: 120_000 }));

test('a workdir that does not exist (or is a file) is refused naming `workdir`; the host process lives on', async () => {
  const d = new LocalDeployment();
  const file = join(ctx.temp, 'a-file');
  writeFileSync(file, 'x');
  const before = myTempDirs();
  for (const workdir of [join(ctx.temp, 'no-such-dir'), file])
    await rejects(d.create({ image: '', bundle: ctx.project, workdir, startupTimeoutMs: 120_000 }), /`workdir`.*not a directory|`workdir`.*does not exist/);
  // a snapshot's working copy is removed too when its sandbox cannot start
  assert.equal(myTempDirs(), before);
});

test("network 'none' starts although the sandbox's env.PATH has no unshare on it", async () => {
  if (unshareProblem()) {
    console.log(`SKIPPING: ${unshareProblem()}`);
    return;
  }
  const d = new LocalDeployment();
  const sandbox = await d.create({ image: '', bundle: ctx.project, network: 'none', env: { PATH: join(ctx.temp, 'empty-path') }, startupTimeoutMs: 120_000 });
  try {
    assert.match(sandbox.runtimeUrl, /^ws\+unix:\/\//);
    const client = await RuntimeClient.connect(sandbox);
    try {
      assert.is(await client.call('hello', ['no path']), 'hello no path');
    } finally {
      await client.close();
    }
  } finally {
    await d.delete(sandbox.id);
  }
});

test('env names the deployment sets for the runtime are refused, naming the variable', async () => {
  const d = new LocalDeployment();
  // AGENTIX_TOKEN_FILE used to win over the deployment's token: a sandbox that started and then refused every caller
  for (const name of ['AGENTIX_TOKEN_FILE', 'AGENTIX_TOKEN', 'AGENTIX_BIND_SOCKET', 'AGENTIX_BIND_PORT', 'AGENTIX_LIFETIME_MS'])
    await rejects(
      // one that starts anyway is deleted, so the failure is the assertion's and nothing keeps running
      d.create({ image: '', bundle: ctx.project, env: { [name]: '/etc/hostname' }, startupTimeoutMs: 120_000 }).then(async (s) => {
        await d.delete(s.id);
        return s;
      }),
      new RegExp(`env ${name} is set by the deployment`),
    );
});

test('a FIFO or a Unix socket in the working directory does not make snapshot() fail: they are left out', async () => {
  const d = new LocalDeployment();
  const work = mkdtempSync(join(ctx.temp, 'work-'));
  // a listening socket left in the working directory (a dev server's, an agent's)
  const server = createServer();
  await new Promise<void>((r) => server.listen(join(work, 'app.sock'), r));
  const sandbox = await d.create({ image: '', bundle: ctx.project, workdir: work, startupTimeoutMs: 120_000 });
  let ref = '';
  try {
    const client = await RuntimeClient.connect(sandbox);
    try {
      assert.is((await client.call<{ exitCode: number }>('bash.run', ['mkfifo pipe && echo kept > file'])).exitCode, 0);
    } finally {
      await client.close();
    }
    ref = await d.snapshot(sandbox.id);
    const root = join(ref.slice('local-snapshot:'.length), 'root');
    assert.ok(existsSync(join(root, 'file')), 'the regular file is in the snapshot');
    assert.not.ok(existsSync(join(root, 'pipe')), 'the FIFO is left out');
    assert.not.ok(existsSync(join(root, 'app.sock')), 'the socket is left out');
  } finally {
    await d.delete(sandbox.id);
    await new Promise((r) => server.close(r));
    if (ref) rmSync(ref.slice('local-snapshot:'.length), { recursive: true, force: true });
  }
});

test.run();
