/**
 * Starting and stopping the bench's child processes. A server is ready when it
 * prints a line containing `listening on <url>`; every wait is bounded, and
 * every process started here is killed (with its process group) on stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { atExit } from './cleanup.js';

export interface Started {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far (for error messages). */
  output(): string;
  stop(): Promise<void>;
}

const LISTENING = /listening on (\S+)/;

export function startServer(argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Started> {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so stop() also ends the server's children
  });
  trackUntilExit(child);
  let out = '';
  const output = () => out.slice(-4000);
  const stop = () => killGroup(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`no "listening on" line within ${opts.timeoutMs} ms from ${argv.join(' ')}:\n${output()}`));
    }, opts.timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = LISTENING.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (x: Buffer) => { out += x.toString(); });
        resolve({ url: m[1], child, output, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited (${code ?? signal}) before listening:\n${output()}`));
    });
  });
}

/** Runs a command to completion, bounded by timeoutMs; resolves with its output, never rejects. */
export function runToEnd(argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number; input?: string }):
  Promise<{ code: number | null; stdout: string; stderr: string; ms: number; timedOut: boolean }> {
  const t0 = performance.now();
  const child = spawn(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  trackUntilExit(child);
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => { timedOut = true; void killGroup(child); }, opts.timeoutMs);
  return new Promise((resolve) => {
    child.on('error', (err) => { clearTimeout(timer); resolve({ code: -1, stdout, stderr: stderr + String(err), ms: performance.now() - t0, timedOut }); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: performance.now() - t0, timedOut }); });
  });
}

async function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
  const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 2000);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 4000))]);
  clearTimeout(t);
}

/** Kills the child's process group if the bench exits or is interrupted while it still runs. */
function trackUntilExit(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  const forget = atExit(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } });
  child.once('exit', () => forget());
}
