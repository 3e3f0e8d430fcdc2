/**
 * Starts `agentix serve` on a project as a real child process on 127.0.0.1
 * with a free port, for tests. `stop()` sends SIGTERM and waits (bounded),
 * then SIGKILL; call it in an `after` hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const cliEntry = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

export interface Served {
  url: string;
  token: string;
  child: ChildProcess;
  /** Everything the server process wrote, for assertions and failure messages. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function serve(projectDir: string, opts: { noGen?: boolean; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Served> {
  const token = `test-token-${Math.random().toString(36).slice(2)}`;
  const args = ['--import', 'tsx', cliEntry, 'serve', projectDir, '--port', '0', '--host', '127.0.0.1', '--token', token];
  if (opts.noGen) args.push('--no-gen');
  // stdin is the lifeline: if this test process is killed, the server it started exits too.
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, AGENTIX_EXIT_WITH_STDIN: '1', ...opts.env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start within ${opts.timeoutMs ?? 30000} ms:\n${out}`));
    }, opts.timeoutMs ?? 30_000);
    const check = () => {
      const m = /agentix: listening on (ws(?:\+unix)?:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    token,
    child,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const r = await exited;
        clearTimeout(timer);
        return r;
      }
      return exited;
    },
  };
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every `everyMs` until it returns true or `withinMs` passes; returns the last answer. */
export async function eventually(check: () => boolean | Promise<boolean>, withinMs = 5000, everyMs = 20): Promise<boolean> {
  const end = Date.now() + withinMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
