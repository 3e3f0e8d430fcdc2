/**
 * What `agentix gc` exists for, made for real: a child host process creates
 * a sandbox and dies by SIGKILL, leaving it behind. And `agentix gc` run
 * in-process with its output captured.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SandboxConfig } from '../../deploy/types.js';
import { main as gcMain } from '../../cli/gc.js';
import { withEnvAsync } from './env.js';

/**
 * Runs a host process that creates one sandbox with `exportName` from
 * deploy/`module` (e.g. 'docker.ts', 'DockerDeployment') and kills itself
 * with SIGKILL; returns the sandbox id it printed ('' if it printed none).
 */
export function sandboxOfCrashedHost(module: string, exportName: string, config: SandboxConfig, env: Record<string, string> = {}): Promise<string> {
  return hostScriptOutput(
    `
    import { ${exportName} } from ${JSON.stringify(fileURLToPath(new URL(`../../deploy/${module}`, import.meta.url)))};
    const s = await new ${exportName}().create(${JSON.stringify(config)});
    process.stdout.write(s.id + '\\n');
    process.kill(process.pid, 'SIGKILL');
  `,
    { env },
  );
}

/**
 * Runs `script` (an ES module, TypeScript through tsx) as a host process of
 * its own and returns what it printed, trimmed, once it has ended (by itself,
 * or killed after `timeoutMs`).
 */
export async function hostScriptOutput(script: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...opts.env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  await new Promise((r) => child.on('close', r));
  clearTimeout(timer);
  return out.trim();
}

/** `agentix gc ARGS` in this process, with `env` set while it runs: its exit code and what it printed. */
export async function runGc(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => (lines.push(s), true)) as typeof process.stdout.write;
  try {
    return { code: await withEnvAsync(env, () => gcMain(args)), out: lines.join('') };
  } finally {
    process.stdout.write = write;
  }
}
