/**
 * The local deployment: the runtime server as a subprocess of the host, on
 * 127.0.0.1 with a free port and a fresh token. The embedded default for
 * development, the demo and tests. `bundle` is a project directory; `image`
 * is ignored (there is no container).
 *
 * The project is generated and compiled once per host process and project;
 * every sandbox then starts just the server on that run dir, so creating one
 * costs a Node start, not a compile.
 *
 * There is no container: a snapshot is a copy of the sandbox's working
 * directory (local-temp.ts), `network: 'none'` runs the server under
 * `unshare --net` (local-network.ts), ports are the host's own, and
 * `lifetimeMs` is a timer here as well as in the server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadProjectManifest, prepareRunDir } from '../bundle/project.js';
import { childExecArgv, siblingEntry } from '../runtime/entry-path.js';
import { AgentixError } from '../runtime/wire/errors.js';
import { noNetworkPrefix } from './local-network.js';
import { copyToSnapshot, forkSnapshot, isLocalSnapshot, LOCAL_SNAPSHOT_SCHEME, localTempDir, removeLocalSnapshot, removeLocalTempDir } from './local-temp.js';
import { checkSandboxOptions } from './shared/config.js';
import { lifetimeTimer, type LifetimeTimer } from './shared/lifetime-timer.js';
import { sandboxToken } from './shared/token.js';
import type { Deployment, Sandbox, SandboxConfig, SandboxInfo } from './types.js';

interface LocalSandbox {
  child: ChildProcess;
  info: SandboxInfo;
  exited: Promise<void>;
  /** Where the server runs: what snapshot() copies. */
  cwd: string;
  /** Temp dirs that go with the sandbox (its working copy of a snapshot, its socket dir). */
  temp: string[];
  lifetime?: LifetimeTimer;
}

const DEFAULT_STARTUP_MS = 30_000;
/** Longer than the server's own shutdown grace (5 s) plus its worker's, so a graceful stop can finish. */
const STOP_GRACE_MS = 10_000;

/** Project directory → its run dir, prepared once per host process. */
const prepared = new Map<string, Promise<string>>();

function prepare(projectDir: string): Promise<string> {
  let p = prepared.get(projectDir);
  if (!p) {
    p = (async () => {
      const manifest = await loadProjectManifest(projectDir, { generate: true });
      const runDir = await prepareRunDir(projectDir, manifest, `local-${process.pid}`);
      return runDir;
    })();
    // A failed preparation is not cached: the next create tries again (after the user fixed the code).
    p.catch(() => prepared.delete(projectDir));
    prepared.set(projectDir, p);
  }
  return p;
}

export class LocalDeployment implements Deployment {
  private readonly sandboxes = new Map<string, LocalSandbox>();
  /**
   * Sandboxes whose delete() is under way, with that deletion: gone for everything but get(), which
   * reports them until their server has exited, and a second delete(), which waits for the same end.
   */
  private readonly deleting = new Map<string, { sb: LocalSandbox; done: Promise<void> }>();

  async create(config: SandboxConfig): Promise<Sandbox> {
    if (!config.bundle) throw new Error('local deployment: config.bundle must be the project directory to serve');
    checkSandboxOptions(config);
    const fromSnapshot = isLocalSnapshot(config.image);
    const prefix = config.network === 'none' ? noNetworkPrefix() : [];
    const projectDir = resolve(config.bundle);
    const runDir = await prepare(projectDir);
    const { token, env: tokenEnv } = sandboxToken();
    const id = `local-${randomUUID()}`;
    const temp: string[] = [];
    let cwd = config.workdir ? resolve(config.workdir) : projectDir;
    // spawn() with a missing cwd fails as ENOENT "spawn node", naming neither the option nor the directory
    if (config.workdir && !fromSnapshot) checkWorkdir(cwd);
    let bind: Record<string, string> = { AGENTIX_BIND_PORT: '0', AGENTIX_BIND_HOST: '127.0.0.1' };
    try {
      if (fromSnapshot) {
        // the snapshot *is* the working directory it copied: `workdir` (the original's, as
        // `{ ...config, image: ref }` passes it on) is where it came from, not where to run
        const fork = await forkSnapshot(config.image);
        temp.push(fork.dir);
        cwd = fork.workdir;
      }
      if (config.network === 'none') {
        // no network namespace in common with the host: the shared filesystem is the way in
        const dir = localTempDir('net');
        temp.push(dir);
        bind = { AGENTIX_BIND_SOCKET: join(dir, 'runtime.sock') };
      }
    } catch (err) {
      for (const dir of temp) removeLocalTempDir(dir);
      throw err;
    }
    const argv = [...prefix, process.execPath, ...childExecArgv(), siblingEntry(import.meta.url, '../runtime/server/main'), runDir];
    const child = spawn(argv[0]!, argv.slice(1), {
      // stdin stays open as a lifeline: the server exits when this host process goes away.
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd,
      env: {
        ...process.env,
        ...config.env,
        ...tokenEnv,
        ...bind,
        ...(config.lifetimeMs ? { AGENTIX_LIFETIME_MS: String(config.lifetimeMs) } : {}),
        AGENTIX_EXIT_WITH_STDIN: '1',
      },
    });
    // a process that could not be spawned emits 'error' and never 'exit' (and an 'error' without a listener kills the host)
    const exited = new Promise<void>((r) => {
      child.once('exit', () => r());
      child.once('error', () => r());
    });
    const info: SandboxInfo = { id, state: 'creating', created: new Date(), image: config.image ?? '', bundle: projectDir };
    const sb: LocalSandbox = { child, info, exited, cwd, temp };
    this.sandboxes.set(id, sb);
    try {
      info.runtimeUrl = await waitForUrl(child, config.startupTimeoutMs ?? DEFAULT_STARTUP_MS);
    } catch (err) {
      await this.delete(id);
      throw err;
    }
    info.state = 'running';
    child.once('exit', () => {
      if (info.state === 'running') info.state = 'exited';
    });
    // the server also stops itself (AGENTIX_LIFETIME_MS); this timer removes the rest (temp dirs) and stops a server that did not
    if (config.lifetimeMs) sb.lifetime = lifetimeTimer(info.created.getTime() + config.lifetimeMs, () => void this.delete(id));
    // the sandbox shares the host's network: a port it listens on is the host's port
    const ports = Object.fromEntries((config.ports ?? []).map((p) => [p, `http://127.0.0.1:${p}`]));
    return { id, runtimeUrl: info.runtimeUrl, token, ports };
  }

  /**
   * A copy of the sandbox's working directory (`workdir`, default the project
   * directory) in a temp dir, as `local-snapshot:<dir>`, which `create` takes as
   * `image`. Only that directory: the rest of the host's filesystem is shared,
   * not the sandbox's. Removed by deleteSnapshot, at the latest when this process exits.
   */
  async snapshot(id: string): Promise<string> {
    const sb = this.sandboxes.get(id);
    if (!sb || sb.info.state !== 'running') throw new AgentixError('NOT_FOUND', `cannot snapshot sandbox ${id}: no such running local sandbox`);
    // The copy takes a while: a sandbox deleted meanwhile (its working copy removed under the
    // copy's feet) would leave a snapshot with part of its files, which is not handed out.
    const gone = () => this.sandboxes.get(id) !== sb || sb.info.state !== 'running';
    const deleted = () => new AgentixError('NOT_FOUND', `cannot snapshot sandbox ${id}: it was deleted or exited while its working directory was copied`);
    let ref: string;
    try {
      ref = await copyToSnapshot(sb.cwd);
    } catch (err) {
      throw gone() ? deleted() : err;
    }
    if (gone()) {
      removeLocalTempDir(ref.slice(LOCAL_SNAPSHOT_SCHEME.length));
      throw deleted();
    }
    return ref;
  }

  /**
   * Removes a snapshot's temp dir (local-temp.ts, removeLocalSnapshot). The
   * sandboxes started from it keep running: each runs in a copy of its own.
   */
  async deleteSnapshot(ref: string): Promise<void> {
    await removeLocalSnapshot(ref);
  }

  async delete(id: string): Promise<void> {
    const under = this.deleting.get(id);
    if (under) return under.done;
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    this.sandboxes.delete(id);
    const done = this.stop(sb).finally(() => this.deleting.delete(id));
    this.deleting.set(id, { sb, done });
    return done;
  }

  private async stop(sb: LocalSandbox): Promise<void> {
    const { child } = sb;
    sb.lifetime?.cancel();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await sb.exited;
      clearTimeout(timer);
    }
    for (const dir of sb.temp) removeLocalTempDir(dir);
    sb.info.state = 'deleted';
  }

  async get(id: string): Promise<SandboxInfo> {
    // One being deleted still runs until its server has exited (it may still accept a connection): not 'deleted' yet.
    const sb = this.sandboxes.get(id) ?? this.deleting.get(id)?.sb;
    if (!sb) return { id, state: 'deleted', created: new Date(0), image: '', bundle: '' };
    return { ...sb.info };
  }
}

function checkWorkdir(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig: \`workdir\` ${dir} does not exist (the local deployment runs the user code in it)`);
  }
  if (!isDir) throw new AgentixError('INVALID_ARGUMENT', `invalid SandboxConfig: \`workdir\` ${dir} is not a directory`);
}

/** Reads the server's stdout until its "listening on" line; collects stderr for the error message. */
function waitForUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let err = '';
    const tail = () => (err || out).trim().split('\n').slice(-20).join('\n');
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', onOut);
      child.off('exit', onExit);
      child.off('error', onError);
      fn();
    };
    const onOut = (d: Buffer) => {
      out += d;
      const m = /agentix: listening on (ws(?:\+unix)?:\/\/\S+)/.exec(out);
      if (m) done(() => resolvePromise(m[1]!));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`local sandbox failed to start (exit ${code}):\n${tail()}`)));
    const onError = (e: Error) => done(() => reject(new Error(`local sandbox could not be started: ${e.message}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`local sandbox did not start within ${timeoutMs} ms:\n${tail()}`))), timeoutMs);
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 64_000) err += d;
    });
    child.on('exit', onExit);
    child.on('error', onError);
  });
}
