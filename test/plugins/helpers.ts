/**
 * Helpers for the plugin tests: temp dirs that are always removed, process
 * liveness that treats zombies as dead, tar archives built by hand, and the
 * plugin fixture served by a real runtime.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { RuntimeClient } from '../../index.js';
import { callStorage } from '../../runtime/context.js';
import { repoRoot, serve, type Served } from '../support/serve.js';

/** `p`'s outcome, or 'still pending' after `ms` (a hang is a failed assertion, not a stuck test). */
export async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: Error & { code?: string }; pending?: true }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ pending: true }>((resolve) => (timer = setTimeout(() => resolve({ pending: true }), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: Error) => ({ error })), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` with an environment variable set, restored afterwards. */
export async function withEnv<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

/** Runs `fn` with a fresh temp dir, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'agentix-plugins-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Whether a process still runs. A zombie is dead: killed children re-parented
 * to an init that never reaps them stay zombies, which kill(pid, 0) still finds.
 */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Waits (bounded) until the process is gone; returns whether it is. */
export async function gone(pid: number, withinMs = 3000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isRunning(pid);
}

/** Reads a pid a command wrote to `file` (bounded wait for it to appear). */
export async function readPid(file: string, withinMs = 3000): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (/^\d+\n/.test(text)) return Number(text.trim());
    if (Date.now() > deadline) throw new Error(`no pid in ${file} after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  data?: string | Uint8Array;
  linkname?: string;
  mode?: number;
}

/** A tar archive with exactly these entries (bad ones included: that is the point). */
export async function makeTar(entries: TarEntry[]): Promise<Uint8Array> {
  const p = pack();
  const chunks: Uint8Array[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Uint8Array);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: e.linkname };
      if (type === 'file') p.entry(header, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? new Uint8Array()), cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Runs `fn` as if it served a call with this AbortSignal (what the worker does). */
export function inCall<T>(target: string, signal: AbortSignal, fn: () => T): T {
  return callStorage().run({ target, signal, log: () => undefined }, fn);
}

export interface ServedFixture {
  client: RuntimeClient;
  server: Served;
  /** The copy of the fixture project the server runs on (its working directory). */
  project: string;
  /** Closes the client, stops the server (SIGTERM) and removes the project copy. */
  cleanup: () => Promise<void>;
}

/**
 * `agentix serve` on a copy of the plugin fixture (gen + compile + server +
 * worker, real processes on 127.0.0.1), and a client connected to it.
 * `nodeModules`: 'all' links our node_modules into the copy (a project with
 * everything installed); 'agentix' gives it only node_modules/agentix, a
 * link to this checkout, as `npm link agentix` does.
 */
export async function serveFixture(opts: { env?: Record<string, string>; nodeModules?: 'all' | 'agentix' } = {}): Promise<ServedFixture> {
  const project = await mkdtemp(join(tmpdir(), 'agentix-plugins-project-'));
  let server: Served | undefined;
  try {
    await cp(join(repoRoot, 'test/plugins/fixture'), project, { recursive: true });
    if ((opts.nodeModules ?? 'all') === 'all') await symlink(join(repoRoot, 'node_modules'), join(project, 'node_modules'));
    else {
      await mkdir(join(project, 'node_modules'));
      await symlink(repoRoot, join(project, 'node_modules', 'agentix'));
    }
    server = await serve(project, { timeoutMs: 120_000, env: opts.env });
    const client = await RuntimeClient.connect(server.url, { token: server.token });
    const s = server;
    return {
      client,
      server: s,
      project,
      cleanup: async () => {
        try {
          await client.close();
          await s.stop();
        } finally {
          await rm(project, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await server?.stop();
    await rm(project, { recursive: true, force: true });
    throw err;
  }
}
