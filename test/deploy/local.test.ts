/** The local deployment and session(): real server subprocesses on 127.0.0.1, always cleaned up. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GEN_DIR, prepareRunDir } from '../../bundle/project.js';
import { readManifest } from '../../runtime/manifest.js';
import { loadDeployment, RuntimeClient, session, type Sandbox } from '../../index.js';
import { alive, eventually, repoRoot } from '../support/serve.js';

const project = `${repoRoot}/fixtures/runtime`;
const local = suite('local deployment');

const serverPid = async (sandbox: Sandbox) => {
  // The sandbox's server is the process listening on its port; ask the worker for its parent.
  const client = await RuntimeClient.connect(sandbox);
  try {
    return await client.call<number>('parentPid', []);
  } finally {
    await client.close();
  }
};

local('loadDeployment finds the built-ins and explains a missing plugin package', async () => {
  assert.is(typeof (await loadDeployment('local')), 'function');
  const err = (await loadDeployment('nosuchcloud').catch((e) => e)) as Error;
  assert.match(err.message, /agentix-deployment-nosuchcloud/);
  const bad = (await loadDeployment('../etc').catch((e) => e)) as Error;
  assert.match(bad.message, /invalid deployment name/);
});

local('session creates a sandbox, serves calls, and deletes it afterwards', async () => {
  const Local = await loadDeployment('local');
  const deployment = new Local();
  let pid = 0;
  let id = '';
  const result = await session(deployment, { image: '', bundle: project }, async (sandbox) => {
    id = sandbox.id;
    assert.match(sandbox.runtimeUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
    assert.is((await deployment.get(sandbox.id)).state, 'running');
    pid = await serverPid(sandbox);
    const client = await RuntimeClient.connect(sandbox);
    try {
      return await client.call<string>('run', ['local']);
    } finally {
      await client.close();
    }
  });
  assert.is(result, 'hello local');
  assert.is((await deployment.get(id)).state, 'deleted');
  assert.ok(await eventually(() => !alive(pid)), 'server process gone');
});

local('the sandbox is deleted when the callback throws, and the error is the callback\'s', async () => {
  const deployment = new (await loadDeployment('local'))();
  let pid = 0;
  const err = (await session(deployment, { image: '', bundle: project }, async (sandbox) => {
    pid = await serverPid(sandbox);
    throw new Error('inside the session');
  }).catch((e) => e)) as Error;
  assert.is(err.message, 'inside the session');
  assert.ok(pid > 0);
  assert.ok(await eventually(() => !alive(pid)), 'server process gone');
});

local('several sandboxes at once are independent', async () => {
  const deployment = new (await loadDeployment('local'))();
  const pids = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      session(deployment, { image: '', bundle: project, env: { TAG: `s${i}` } }, async (sandbox) => {
        const client = await RuntimeClient.connect(sandbox);
        try {
          assert.is(await client.call('env', ['TAG']), `s${i}`);
          return await client.call<number>('parentPid', []);
        } finally {
          await client.close();
        }
      }),
    ),
  );
  assert.is(new Set(pids).size, 4);
  for (const pid of pids) assert.ok(await eventually(() => !alive(pid)));
});

local('a project that is not there fails create with a clear message', async () => {
  const deployment = new (await loadDeployment('local'))();
  const err = (await deployment.create({ image: '', bundle: `${repoRoot}/fixtures/does-not-exist` }).catch((e) => e)) as Error;
  assert.match(err.message, /does-not-exist/);
});

local('when the host process dies, its local sandboxes exit too', async () => {
  // A separate host process creates a sandbox, reports the server's pid, and is then killed.
  const script = `
    import { loadDeployment, RuntimeClient } from ${JSON.stringify(`${repoRoot}/index.ts`)};
    const d = new (await loadDeployment('local'))();
    const sb = await d.create({ image: '', bundle: ${JSON.stringify(project)} });
    const c = await RuntimeClient.connect(sb);
    console.log('PID', await c.call('parentPid', []));
    setInterval(() => {}, 1000);
  `;
  const host = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  host.stdout.on('data', (d) => (out += d));
  host.stderr.on('data', (d) => (out += d));
  const gotPid = await eventually(() => /PID (\d+)/.test(out), 60_000);
  const pid = Number(/PID (\d+)/.exec(out)?.[1]);
  host.kill('SIGKILL');
  assert.ok(gotPid, `host printed the server pid: ${out}`);
  assert.ok(await eventually(() => !alive(pid), 10_000), 'the orphaned server exited');
  // The killed host could not remove its run dir; the next compile of the project does.
  const orphan = join(project, '.agentix', 'run', `local-${host.pid}`);
  assert.ok(existsSync(orphan), 'the killed host left its run dir');
  await prepareRunDir(project, readManifest(join(project, GEN_DIR, 'manifest.json')), `local-${process.pid}`);
  assert.not.ok(existsSync(orphan), 'the next compile removed the orphaned run dir');
});

local.run();
