/**
 * bench/servers/socket-handoff.ts, the prototype that hands each accepted
 * socket to a child process: the child answers the floor's protocol on the
 * socket it holds, and the child never outlives the server, whether the
 * server is stopped, killed outright, or ends because its child died or hung.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectSocketHandoff } from '../../bench/clients/raw-ws.js';
import { TSX_ARGS } from '../../bench/lib/node-args.js';
import { startServer, type Started } from '../../bench/lib/process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** State letter of a live process, undefined once it is gone (a zombie nobody reaps counts as gone). */
function stateOf(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = text.slice(text.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X' ? undefined : state;
  } catch {
    return undefined;
  }
}

/** The pid of the server's hand-off child (its direct child running socket-handoff-child.ts). */
function handoffChild(serverPid: number): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === serverPid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('socket-handoff-child')) return Number(name);
    } catch { /* exited while we looked */ }
  }
  throw new Error(`server ${serverPid} has no socket-handoff-child process`);
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exited = (server: Started) => new Promise<void>((resolve) => {
  if (server.child.exitCode !== null || server.child.signalCode !== null) resolve();
  else server.child.once('exit', () => resolve());
});

/** Starts the server; `body` gets it and its child's pid; both are gone afterwards, also when `body` throws. */
async function withServer(body: (server: Started, childPid: number) => Promise<void>): Promise<void> {
  const server = await startServer([process.execPath, ...TSX_ARGS, join(root, 'bench/servers/socket-handoff.ts')], { cwd: root, timeoutMs: 60_000 });
  let childPid: number | undefined;
  try {
    childPid = handoffChild(server.child.pid!);
    await body(server, childPid);
  } finally {
    await server.stop();
    if (childPid !== undefined && stateOf(childPid) !== undefined) {
      try { process.kill(childPid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

test('the child answers run, echoBytes, count and chat on the socket it was handed, for each connection', async () => {
  await withServer(async (server) => {
    const a = await connectSocketHandoff(server.url, {});
    const b = await connectSocketHandoff(server.url, {});
    try {
      assert.is(await a.run('hello'), 'hello');
      assert.is(await b.run('second'), 'second');
      const bytes = new Uint8Array(64 * 1024).map((_, i) => i % 251);
      const back = await a.echoBytes!(bytes);
      assert.equal(new Uint8Array(back), bytes);
      assert.is(await a.count!(20_000), 20_000);
      const chat = await b.openChat!();
      assert.is(await chat.roundTrip('hi'), 'hi');
      await chat.close();
    } finally {
      await a.close();
      await b.close();
    }
  });
});

test('stopping the server ends the child that holds the sockets', async () => {
  let pid = 0;
  await withServer(async (server, childPid) => {
    pid = childPid;
    assert.ok(stateOf(childPid), 'the child runs');
    await server.stop();
  });
  await until(`child ${pid} gone`, () => stateOf(pid) === undefined, 10_000);
});

test('a server killed outright (SIGKILL, no handler runs) does not leave its child behind', async () => {
  await withServer(async (server, childPid) => {
    process.kill(server.child.pid!, 'SIGKILL');
    await exited(server);
    await until(`child ${childPid} gone after its parent was killed`, () => stateOf(childPid) === undefined, 10_000);
  });
});

test('a child that dies takes the server down, which says why', async () => {
  await withServer(async (server, childPid) => {
    process.kill(childPid, 'SIGKILL');
    await exited(server);
    assert.is(server.child.exitCode, 1);
    assert.match(server.output(), /child exited \(SIGKILL\)/);
  });
});

test('a child that stops sending heartbeats is killed, and the server ends saying so', async () => {
  await withServer(async (server, childPid) => {
    process.kill(childPid, 'SIGSTOP');
    await Promise.race([exited(server), new Promise((_, reject) => setTimeout(() => reject(new Error('server still up 20 s after its child stopped')), 20_000))]);
    assert.is(server.child.exitCode, 1);
    assert.match(server.output(), /no heartbeat from the child/);
    await until(`stopped child ${childPid} killed`, () => stateOf(childPid) === undefined, 10_000);
  });
});

test.run();
