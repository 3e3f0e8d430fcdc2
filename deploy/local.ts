/**
 * The local deployment: the runtime server as a subprocess of the host, on
 * 127.0.0.1 with a free port and a fresh token. The embedded default for
 * development, the demo and tests. `bundle` is a project directory; `image`
 * is ignored (there is no container).
 *
 * The project is generated and compiled once per host process and project;
 * every sandbox then starts just the server on that run dir, so creating one
 * costs a Node start, not a compile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { loadProjectManifest, prepareRunDir } from '../bundle/project.js';
import { childExecArgv, siblingEntry } from '../runtime/entry-path.js';
import { sandboxToken } from './shared/token.js';
import type { Deployment, Sandbox, SandboxConfig, SandboxInfo } from './types.js';

interface LocalSandbox {
  child: ChildProcess;
  info: SandboxInfo;
  exited: Promise<void>;
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

  async create(config: SandboxConfig): Promise<Sandbox> {
    if (!config.bundle) throw new Error('local deployment: config.bundle must be the project directory to serve');
    const projectDir = resolve(config.bundle);
    const runDir = await prepare(projectDir);
    const { token, env: tokenEnv } = sandboxToken();
    const id = `local-${randomUUID()}`;
    const child = spawn(process.execPath, [...childExecArgv(), siblingEntry(import.meta.url, '../runtime/server/main'), runDir], {
      // stdin stays open as a lifeline: the server exits when this host process goes away.
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: config.workdir ? resolve(config.workdir) : projectDir,
      env: {
        ...process.env,
        ...config.env,
        ...tokenEnv,
        AGENTIX_BIND_PORT: '0',
        AGENTIX_BIND_HOST: '127.0.0.1',
        AGENTIX_EXIT_WITH_STDIN: '1',
      },
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const info: SandboxInfo = { id, state: 'creating', created: new Date(), image: config.image ?? '', bundle: projectDir };
    this.sandboxes.set(id, { child, info, exited });
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
    return { id, runtimeUrl: info.runtimeUrl, token, ports: {} };
  }

  async delete(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    this.sandboxes.delete(id);
    const { child } = sb;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await sb.exited;
      clearTimeout(timer);
    }
    sb.info.state = 'deleted';
  }

  async get(id: string): Promise<SandboxInfo> {
    const sb = this.sandboxes.get(id);
    if (!sb) return { id, state: 'deleted', created: new Date(0), image: '', bundle: '' };
    return { ...sb.info };
  }
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
      fn();
    };
    const onOut = (d: Buffer) => {
      out += d;
      const m = /agentix: listening on (ws:\/\/\S+)/.exec(out);
      if (m) done(() => resolvePromise(m[1]!));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`local sandbox failed to start (exit ${code}):\n${tail()}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`local sandbox did not start within ${timeoutMs} ms:\n${tail()}`))), timeoutMs);
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 64_000) err += d;
    });
    child.on('exit', onExit);
  });
}
