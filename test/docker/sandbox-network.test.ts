/**
 * `network` and `ports` of Docker sandboxes against a real engine: a sandbox
 * without network reaches nothing (not a port another container publishes
 * on the host's loopback, not DNS) yet serves every call shape and both
 * plugins through its Unix socket; a host-network sandbox does reach that
 * port (the control); a default (bridge) sandbox keeps its own network but
 * is reached through a Unix socket too, with no port published for the
 * runtime, unless `runtimeReach: 'port'` (AGENTIX_DOCKER_REACH=port) asks for
 * the published port; published ports are reachable from the host at
 * `sandbox.ports[p]`; the socket directory goes with the sandbox, on
 * failure too, and `agentix gc` removes what a crashed host left. Everything
 * this file makes carries a run label and is removed at the end.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle } from '../../bundle/index.js';
import { DockerDeployment, engineAddress, LABELS } from '../../deploy/docker.js';
import { loadDeployment } from '../../deploy/load.js';
import type { Sandbox, SandboxConfig } from '../../deploy/types.js';
import { freeLoopbackPort } from '../../deploy/shared/loopback.js';
import { rejects } from '../support/assert.js';
import { runGc, sandboxOfCrashedHost } from '../support/crash.js';
import { containersWith, engineOrSkip, engineProxy, removeBundle, taskImage } from '../support/docker.js';
import { withEnv } from '../support/env.js';
import { repoRoot } from '../support/serve.js';
import { assertFullyCallable, withClient, withSandbox } from '../support/sandbox-client.js';

const docker = await engineOrSkip('docker network and ports');
const RUN = `agentix-test-net-${process.pid}-${randomBytes(3).toString('hex')}`;
const RUN_LABEL = 'agentix-test.run';
const BUNDLE = `${RUN}:1`;
const labels = { [RUN_LABEL]: RUN };

const ctx = {} as { temp: string; imageId: string; busybox: string; target: string; targetPort: number };

/** This process's socket directories (network: 'none') in the temp dir. */
const mySocketDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`agentix-docker-net-${process.pid}-`));

function withDockerSandbox<T>(config: Partial<SandboxConfig>, fn: (s: Sandbox, d: DockerDeployment) => Promise<T>, d = new DockerDeployment()): Promise<T> {
  return withSandbox(d, { image: ctx.busybox, bundle: BUNDLE, labels, workdir: '/tmp', ...config }, (s) => fn(s, d));
}

const test = suite('docker: network and ports');
test.before(async () => {
  ctx.temp = mkdtempSync(join(tmpdir(), 'agentix-net-test-'));
  const project = join(ctx.temp, 'p');
  cpSync(join(repoRoot, 'test/deploy/sandbox-fixture'), project, { recursive: true, filter: (src) => !src.includes('/.agentix') && !src.includes('/agentix-gen') });
  const [built, busybox] = await Promise.all([buildBundle({ projectDir: project, tag: BUNDLE }), taskImage(docker!, 'busybox')]);
  Object.assign(ctx, { imageId: built.imageId, busybox });
  // what a sandbox with network could reach: an HTTP server another container publishes on the host's loopback
  const target = await docker!.createContainer({
    Image: busybox,
    Cmd: ['httpd', '-f', '-p', '8080', '-h', '/tmp'],
    Labels: labels,
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  await target.start();
  ctx.target = target.id;
  ctx.targetPort = Number((await target.inspect()).NetworkSettings.Ports['8080/tcp']![0]!.HostPort);
});

test("network 'none': nothing reachable from inside, every call shape and both plugins from the host", async () => {
  const before = mySocketDirs();
  let socketDir = '';
  await withDockerSandbox({ network: 'none' }, async (sandbox) => {
    assert.match(sandbox.runtimeUrl, /^ws\+unix:\/\/\/.*\/runtime\.sock$/);
    socketDir = dirname(dirname(sandbox.runtimeUrl.slice('ws+unix://'.length)));
    assert.ok(existsSync(socketDir));
    assert.equal(sandbox.ports, {});
    await withClient(sandbox, async (c) => {
      assert.equal(await c.call('interfaces', []), ['lo'], 'no interface but loopback');
      assert.is(await c.call('tcpProbe', ['127.0.0.1', ctx.targetPort]), 'ECONNREFUSED', "the host's published port is not reachable");
      assert.is.not(await c.call('dnsProbe', ['localhost.agentix-test.invalid']), 'ENOTFOUND', 'no DNS server answered');
      assert.match(await c.call<string>('dnsProbe', ['localhost.agentix-test.invalid']), /^E/);
      const viaBash = await c.call<{ exitCode: number; stderr: string }>('bash.run', [`exec 3<>/dev/tcp/127.0.0.1/${ctx.targetPort}`]);
      assert.is.not(viaBash.exitCode, 0, 'bash cannot connect either');
      // every call shape, both plugins
      await assertFullyCallable(c, 'none');
    });
    assert.is((await docker!.getContainer(sandbox.id).inspect()).HostConfig.NetworkMode, 'none');
    assert.is((await new DockerDeployment().get(sandbox.id)).runtimeUrl, sandbox.runtimeUrl, 'get() reports the socket URL');
  });
  assert.not.ok(existsSync(socketDir), 'delete removed the socket directory');
  assert.equal(mySocketDirs(), before);
});

/** The host directory of a socket URL (`ws+unix://<dir>/s/runtime.sock`). */
const socketDirOf = (url: string) => dirname(dirname(url.slice('ws+unix://'.length)));

test('the default bridge network: no port published for the runtime, reached through its socket, egress kept', async () => {
  const before = mySocketDirs();
  let socketDir = '';
  await withDockerSandbox({}, async (sandbox, d) => {
    assert.is(d.runtimeReach, 'socket', 'the default with the engine on this host');
    assert.match(sandbox.runtimeUrl, /^ws\+unix:\/\/\/.*\/runtime\.sock$/);
    socketDir = socketDirOf(sandbox.runtimeUrl);
    assert.ok(existsSync(socketDir));
    const c = await docker!.getContainer(sandbox.id).inspect();
    assert.not.ok(Object.keys(c.HostConfig.PortBindings ?? {}).includes('8000/tcp'), `published: ${JSON.stringify(c.HostConfig.PortBindings)}`);
    assert.equal(Object.keys(c.NetworkSettings.Ports ?? {}), [], 'the engine published nothing');
    assert.is(c.Config.Labels[LABELS.socketDir], socketDir);
    // the container's own network is still there (outbound traffic for the task): only loopback is contacted here
    assert.ok(['default', 'bridge'].includes(c.HostConfig.NetworkMode ?? ''), c.HostConfig.NetworkMode);
    await withClient(sandbox, async (c) => {
      assert.ok((await c.call<string[]>('interfaces', [])).includes('eth0'), 'the bridge gives it an eth0');
      assert.is(await c.call('hello', ['bridge']), 'hello bridge');
    });
    assert.is((await new DockerDeployment().get(sandbox.id)).runtimeUrl, sandbox.runtimeUrl, 'get() reports the socket URL');
  });
  assert.not.ok(existsSync(socketDir), 'delete removed the socket directory');
  assert.equal(mySocketDirs(), before);
});

test("runtimeReach: 'port' and AGENTIX_DOCKER_REACH=port: the runtime's port published on 127.0.0.1, no socket directory", async () => {
  const before = mySocketDirs();
  const byOption = new DockerDeployment({ runtimeReach: 'port' });
  const byEnv = withEnv({ AGENTIX_DOCKER_REACH: 'port' }, () => new DockerDeployment());
  for (const d of [byOption, byEnv]) {
    assert.is(d.runtimeReach, 'port');
    await withDockerSandbox({ ports: [3000] }, async (sandbox) => {
      assert.match(sandbox.runtimeUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
      const c = await docker!.getContainer(sandbox.id).inspect();
      assert.is(c.HostConfig.PortBindings?.['8000/tcp']?.[0]?.HostIp, '127.0.0.1');
      assert.is(`ws://127.0.0.1:${c.NetworkSettings.Ports['8000/tcp']![0]!.HostPort}`, sandbox.runtimeUrl);
      assert.is(c.Config.Labels[LABELS.socketDir], '');
      assert.equal(mySocketDirs(), before, 'no socket directory made');
      await withClient(sandbox, async (c) => {
        assert.ok((await c.call<string[]>('interfaces', [])).includes('eth0'));
        await c.call('serveHttp', [3000, 'by port']);
      });
      assert.is(await (await fetch(sandbox.ports[3000]!)).text(), 'by port');
      assert.is((await d.get(sandbox.id)).runtimeUrl, sandbox.runtimeUrl, 'get() reports the port URL');
    }, d);
  }
});

test('the way in is chosen once, in the constructor: the option wins over the env, bad values and a socket to a remote engine are refused', async () => {
  // the option through the public entry (loadDeployment('docker') is typed to take it)
  const Docker = await loadDeployment('docker');
  assert.is((new Docker({ runtimeReach: 'port' }) as DockerDeployment).runtimeReach, 'port');
  assert.is(withEnv({ AGENTIX_DOCKER_REACH: 'port' }, () => new DockerDeployment({ runtimeReach: 'socket' })).runtimeReach, 'socket');
  assert.is(withEnv({ AGENTIX_DOCKER_REACH: 'socket' }, () => new DockerDeployment()).runtimeReach, 'socket');
  assert.throws(() => withEnv({ AGENTIX_DOCKER_REACH: 'pipe' }, () => new DockerDeployment()), /AGENTIX_DOCKER_REACH must be "socket" or "port", got "pipe"/);
  assert.throws(() => new DockerDeployment({ runtimeReach: 'tcp' as never }), /the runtimeReach option must be "socket" or "port", got "tcp"/);
  // a temp dir so deep that the socket's host path would not fit a socket address: the port, or a clear refusal
  const deep = join('/tmp', 'd'.repeat(80));
  assert.is(withEnv({ TMPDIR: deep }, () => new DockerDeployment()).runtimeReach, 'port');
  assert.throws(() => withEnv({ TMPDIR: deep }, () => new DockerDeployment({ runtimeReach: 'socket' })), /path longer than 107 bytes under the temp dir \(TMPDIR=\/tmp\/d+\): set a shorter TMPDIR, or use "port"/);
  // an engine elsewhere: the published port is the default, and the only way
  assert.is(withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:1' }, () => new DockerDeployment()).runtimeReach, 'port');
  assert.is(withEnv({ DOCKER_HOST: 'ssh://user@127.0.0.1' }, () => new DockerDeployment()).runtimeReach, 'port');
  assert.throws(
    () => withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:1', AGENTIX_DOCKER_REACH: 'socket' }, () => new DockerDeployment()),
    /AGENTIX_DOCKER_REACH is "socket" but the Docker engine is not on this host \(DOCKER_HOST=tcp:\/\/127\.0\.0\.1:1\)/,
  );
});

/**
 * An engine that cannot see this host's directories (Docker Desktop's VM, an engine whose socket
 * was mounted into the container the host runs in), played by a proxy in front of the real one
 * that renames every socket directory in what it forwards to one that does not exist there.
 */
async function engineElsewhereProxy(): Promise<{ path: string; rewrites(): number; close(): Promise<void> }> {
  const [from, to] = [Buffer.from('agentix-docker-net-'), Buffer.from('agentix-docker-nox-')];
  let rewrites = 0;
  const proxy = await engineProxy(engineAddress().replace(/^unix:\/\//, ''), (client, upstream) => {
    client.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf(from); at >= 0; at = chunk.indexOf(from, at + 1)) (to.copy(chunk, at), rewrites++);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
  });
  return { ...proxy, rewrites: () => rewrites };
}

test('an engine that cannot see the socket directory refuses the create at once, naming AGENTIX_DOCKER_REACH=port; nothing is left', async () => {
  const proxy = await engineElsewhereProxy();
  try {
    const before = mySocketDirs();
    const d = withEnv({ DOCKER_HOST: `unix://${proxy.path}` }, () => new DockerDeployment());
    assert.is(d.runtimeReach, 'socket', 'the engine looks local');
    await rejects(d.create({ image: ctx.busybox, bundle: BUNDLE, labels }), /the Docker engine \(unix:\/\/.*\) cannot see this host's directory .*agentix-docker-net-.*AGENTIX_DOCKER_REACH=port/s);
    assert.ok(proxy.rewrites() > 0, 'the proxy renamed the directory');
    assert.equal(mySocketDirs(), before, 'the socket directory was removed');
    assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).filter((c) => c.Id !== ctx.target).length, 0, 'no container was made');
  } finally {
    await proxy.close();
  }
});

test("network 'host' (the control): the port another container publishes on the loopback is reachable", async () => {
  await withDockerSandbox({ network: 'host' }, async (sandbox) => {
    assert.match(sandbox.runtimeUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
    assert.is((await docker!.getContainer(sandbox.id).inspect()).HostConfig.NetworkMode, 'host');
    await withClient(sandbox, async (c) => assert.is(await c.call('tcpProbe', ['127.0.0.1', ctx.targetPort]), 'connected'));
  });
});

test("network 'none' as a non-root user: the runtime can make its socket, the host can call it", async () => {
  await withDockerSandbox({ network: 'none', user: '65534:65534' }, async (sandbox) => {
    await withClient(sandbox, async (c) => {
      assert.is((await c.call<{ stdout: string }>('bash.run', ['id -u'])).stdout, '65534\n');
      assert.is(await c.call('hello', ['nobody']), 'hello nobody');
    });
  });
});

for (const network of ['none', 'default'] as const)
  test(`a sandbox on network '${network}' that fails to start leaves no socket directory`, async () => {
    const before = mySocketDirs();
    await rejects(new DockerDeployment().create({ image: ctx.busybox, bundle: BUNDLE, labels, network, startupTimeoutMs: 1 }), /did not answer \/health within 1 ms/);
    await rejects(new DockerDeployment().create({ image: 'agentix-test-no-such-image:1', bundle: BUNDLE, labels, network }), /task image agentix-test-no-such-image:1 not found/);
    // the runtime exits at once: a user that does not exist
    await rejects(new DockerDeployment().create({ image: ctx.busybox, bundle: BUNDLE, labels, network, user: 'nosuchuser' }), /nosuchuser/);
    assert.equal(mySocketDirs(), before);
  });

for (const network of ['none', 'default'] as const)
  test(`agentix gc removes a crashed host's sandbox on network '${network}' and its socket directory`, async () => {
    const orphan = await sandboxOfCrashedHost('docker.ts', 'DockerDeployment', { image: ctx.busybox, bundle: BUNDLE, labels, network });
    assert.match(orphan, /^[0-9a-f]{64}$/, `child printed ${JSON.stringify(orphan)}`);
    const dir = (await docker!.getContainer(orphan).inspect()).Config.Labels[LABELS.socketDir]!;
    assert.ok(existsSync(dir), 'the crashed host left its socket directory');
    const { code, out } = await runGc(['--docker']);
    assert.is(code, 0);
    assert.not.ok(await docker!.getContainer(orphan).inspect().then(() => true, () => false), `gc removed the sandbox:\n${out}`);
    assert.not.ok(existsSync(dir), `gc removed the socket directory:\n${out}`);
  });

test('agentix gc removes a socket directory no container names once the process that made it is gone, and keeps a live one\'s', async () => {
  // a host that died between making the directory and its container: only the pid in the name tells
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const orphan = mkdtempSync(join(tmpdir(), `agentix-docker-net-${dead}-`));
  const mine = mkdtempSync(join(tmpdir(), `agentix-docker-net-${process.pid}-`));
  try {
    const { code, out } = await runGc(['--docker']);
    assert.is(code, 0);
    assert.not.ok(existsSync(orphan), `gc removed the orphaned socket directory:\n${out}`);
    assert.ok(existsSync(mine), 'a live process\'s socket directory stays');
  } finally {
    rmSync(orphan, { recursive: true, force: true });
    rmSync(mine, { recursive: true, force: true });
  }
});

test('published ports: a server started inside is reachable from the host at sandbox.ports[p]', async () => {
  await withDockerSandbox({ ports: [3000, 5173] }, async (sandbox) => {
    assert.equal(Object.keys(sandbox.ports), ['3000', '5173']);
    assert.match(sandbox.runtimeUrl, /^ws\+unix:\/\//, 'the runtime itself through its socket');
    const published = (await docker!.getContainer(sandbox.id).inspect()).HostConfig.PortBindings ?? {};
    assert.equal(Object.keys(published).sort(), ['3000/tcp', '5173/tcp'], 'only the ports asked for');
    for (const p of Object.values(published) as { HostIp: string }[][]) assert.is(p[0]!.HostIp, '127.0.0.1');
    for (const p of [3000, 5173]) assert.match(sandbox.ports[p]!, /^http:\/\/127\.0\.0\.1:\d+$/);
    await withClient(sandbox, async (c) => {
      await c.call('serveHttp', [3000, 'from inside']);
      await c.call('serveHttp', [5173, 'second']);
    });
    assert.is(await (await fetch(sandbox.ports[3000]!)).text(), 'from inside');
    assert.is(await (await fetch(sandbox.ports[5173]!)).text(), 'second');
  });
});

test('published ports on the host network are the port itself', async () => {
  const port = await freeLoopbackPort();
  await withDockerSandbox({ network: 'host', ports: [port] }, async (sandbox) => {
    assert.is(sandbox.ports[port], `http://127.0.0.1:${port}`);
    await withClient(sandbox, (c) => c.call('serveHttp', [port, 'host net']));
    assert.is(await (await fetch(sandbox.ports[port]!)).text(), 'host net');
  });
});

test('ports that cannot be published are refused, naming the option', async () => {
  const d = new DockerDeployment();
  const base = { image: ctx.busybox, bundle: BUNDLE, labels };
  await rejects(d.create({ ...base, network: 'none', ports: [3000] }), /`ports` cannot be published with `network: "none"`/);
  await rejects(d.create({ ...base, ports: [0] }), /`ports`: 0 is not a port number/);
  await rejects(d.create({ ...base, ports: [70000] }), /`ports`: 70000 is not a port number/);
  await rejects(d.create({ ...base, ports: [3000, 3000] }), /`ports`: 3000 is listed twice/);
  await rejects(d.create({ ...base, ports: [8000] }), /`ports`: 8000 is the runtime's own port/);
  await rejects(d.create({ ...base, network: 'wifi' as never }), /`network` must be one of "none", "default", "host", got "wifi"/);
  assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).filter((c) => c.Id !== ctx.target).length, 0, 'nothing was created');
});

test("network 'none' with an engine on another host is refused (the socket directory could not be mounted)", async () => {
  const remote = withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:1' }, () => new DockerDeployment());
  await rejects(remote.create({ image: ctx.busybox, bundle: BUNDLE, labels, network: 'none' }), /`network: "none"` needs a Docker engine on this host \(DOCKER_HOST=tcp:\/\/127\.0\.0\.1:1\)/);
});

async function cleanup(): Promise<void> {
  for (const c of await containersWith(docker!, `${RUN_LABEL}=${RUN}`)) await docker!.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  if (ctx.imageId) await removeBundle(docker!, ctx.imageId);
  if (ctx.temp) rmSync(ctx.temp, { recursive: true, force: true });
}

test('finally: nothing of this file remains', async () => {
  await cleanup();
  assert.is((await containersWith(docker!, `${RUN_LABEL}=${RUN}`)).length, 0);
  assert.equal(mySocketDirs(), []);
});
test.after(cleanup);

if (docker) test.run();
