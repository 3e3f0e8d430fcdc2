/**
 * The local deployment: the runtime server as a subprocess of the host, on
 * 127.0.0.1 with a free port and a fresh token. The embedded default for
 * development, the demo and tests. `bundle` is a project directory; `image`
 * is ignored (there is no container).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { childExecArgv, siblingEntry } from '../runtime/entry-path.js';
import { randomToken } from '../runtime/server.js';
import type { Deployment, Sandbox, SandboxConfig, SandboxInfo } from './types.js';

interface LocalSandbox {
  child: ChildProcess;
  info: SandboxInfo;
  exited: Promise<void>;
}

const DEFAULT_STARTUP_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export class LocalDeployment implements Deployment {
  private readonly sandboxes = new Map<string, LocalSandbox>();

  async create(config: SandboxConfig): Promise<Sandbox> {
    if (!config.bundle) throw new Error('local deployment: config.bundle must be the project directory to serve');
    const projectDir = resolve(config.bundle);
    const token = randomToken();
    const id = `local-${randomUUID()}`;
    const args = [...childExecArgv(), siblingEntry(import.meta.url, '../cli/main'), 'serve', projectDir, '--port', '0', '--host', '127.0.0.1'];
    if (config.workdir) args.push('--workdir', resolve(config.workdir));
    const child = spawn(process.execPath, args, {
      // stdin stays open as a lifeline: the server exits when this host process goes away.
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...config.env, AGENTIX_TOKEN: token, AGENTIX_EXIT_WITH_STDIN: '1' },
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
    return { id, runtimeUrl: info.runtimeUrl, token };
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
    const onExit = (code: number | null) =>
      done(() => reject(new Error(`local sandbox failed to start (exit ${code}):\n${(err || out).trim().split('\n').slice(-20).join('\n')}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`local sandbox did not start within ${timeoutMs} ms:\n${(err || out).trim().split('\n').slice(-20).join('\n')}`))),
      timeoutMs,
    );
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 64_000) err += d;
    });
    child.on('exit', onExit);
  });
}
