/**
 * The rollout example: an agent-evaluation loop over many tasks, each in its
 * own short-lived sandbox, several at once.
 *
 *   1. build the agent's bundle image once (agent/: its tools + the bash and files plugins)
 *   2. make one busybox task image per task (fixtures/rollout/tasks/<name>/repo → /workspace)
 *   3. run every task in its own sandbox, N at a time: the scripted agent
 *      (policy.ts) acts through the typed remote, the task's check scores it
 *   4. print a score table and the wall time
 *
 *   npm run rollout -- [--concurrency N] [--timeout SECONDS] [--only a,b]
 *                      [--deployment docker|local] [--clean] [--verbose]
 *
 * Exit code 0 when every task was scored (whatever the scores), 1 when the
 * harness itself failed (no engine, a sandbox that would not start, a lost
 * connection), 2 on a bad command line.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { buildBundle, loadDeployment, RuntimeClient, session, type Deployment, type SandboxConfig } from 'agentix';
// `agentix build` as a function. Not on the package's entry point (it loads the bundler); see docs/rollout.md.
import { createRemote } from './agent/agentix-gen/client.js';
import { ensureTaskImage, removeBundleImage, removeTaskImages, WORKSPACE } from './images.js';
import { attempt, describe, type Step } from './policy.js';
import { mapConcurrent } from './pool.js';
import { scoreTable, summary, type Row } from './table.js';
import { loadTasks, TASKS_DIR, type Task } from './tasks.js';

export const AGENT_DIR = fileURLToPath(new URL('./agent', import.meta.url));
/** Every sandbox of a run carries `agentix-rollout.run=<run id>`. */
export const RUN_LABEL = 'agentix-rollout.run';

export interface RolloutOptions {
  /** `docker` (default) or `local` (the runtime as a host process, each task in a temp copy of its repo). */
  deployment?: 'docker' | 'local';
  /** Sandboxes at once (default 4). */
  concurrency?: number;
  /** Time budget of one task's agent actions and check, from the moment its sandbox is up (default 10 s). */
  taskTimeoutMs?: number;
  /** Task names to run (default: all under `tasksDir`). */
  only?: string[];
  tasksDir?: string;
  /** Bundle image tag (docker). */
  bundleTag?: string;
  /** Afterwards remove the task images, the bundle image and its carrier (default: keep them for the next run). */
  clean?: boolean;
  /** Print each task's trajectory after the table. */
  verbose?: boolean;
  /** Where progress and the table go (default: stdout). */
  print?: (line: string) => void;
  /** Aborting stops the run: running tasks are cancelled (their sandboxes removed), the rest are not started. */
  signal?: AbortSignal;
}

export interface TaskRow extends Row {
  trajectory: Step[];
}

export interface RolloutReport {
  runId: string;
  rows: TaskRow[];
  /** Whole run, setup included. */
  wallMs: number;
  setupMs: number;
  /** Tasks that were not scored: `error` (the harness failed) and `stopped` (the run was interrupted) rows. */
  errors: number;
}

/**
 * Local deployment: where each task's private copy of its repository lives
 * while it runs, in the project's ignored scratch folder (next to the run dir
 * and the build cache). Each copy is removed when its task ends.
 */
export const LOCAL_WORK_DIR = join(AGENT_DIR, '.agentix', 'rollout');

/** How long a crashed task waits for the worker's stderr to arrive. */
const LAST_WORDS_MS = 500;

const DEFAULTS = { deployment: 'docker', concurrency: 4, taskTimeoutMs: 10_000, bundleTag: 'agentix-rollout-agent:latest' } as const;

export async function rollout(options: RolloutOptions = {}): Promise<RolloutReport> {
  const opts = { ...DEFAULTS, ...options };
  const print = opts.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const started = performance.now();
  const runId = `rollout-${process.pid}-${randomBytes(3).toString('hex')}`;
  const tasks = loadTasks(opts.tasksDir ?? TASKS_DIR, opts.only);
  if (opts.deployment !== 'docker' && opts.deployment !== 'local') throw new Error(`--deployment must be docker or local, got ${JSON.stringify(opts.deployment)}`);

  // first, so a misconfigured backend fails before the slow build
  const Backend = await loadDeployment(opts.deployment);
  const deployment = new Backend();

  let docker: Docker | undefined;
  let images = new Map<string, string>();
  if (opts.deployment === 'docker') {
    docker = new Docker();
    await docker.ping().catch((err: Error) => {
      throw new Error(`no Docker engine (${err.message}); start one (on CI machines: bash .ci/docker.sh) or use --deployment local`);
    });
    const d = docker;
    // the bundle build and the image imports are independent: overlap them
    const [bundle, imported] = await Promise.all([
      timed(() =>
        buildBundle({ projectDir: AGENT_DIR, tag: opts.bundleTag, load: true, onProgress: opts.verbose ? (step, ms) => print(`  build: ${step} (${ms} ms)`) : undefined }),
      ),
      timed(() => Promise.all(tasks.map(async (t) => [t.name, await ensureTaskImage(d, t)] as const))),
    ]);
    images = new Map(imported.value.map(([name, r]) => [name, r.tag]));
    const fresh = imported.value.filter(([, r]) => r.imported).length;
    print(`bundle ${bundle.value.tag} (${bundle.value.imageId.slice(7, 19)}) built in ${secs(bundle.ms)} s`);
    print(`${tasks.length} task images ready in ${secs(imported.ms)} s (${fresh} imported, ${tasks.length - fresh} unchanged)`);
  }
  const setupMs = performance.now() - started;

  print(`running ${tasks.length} tasks, ${opts.concurrency} at a time, ${secs(opts.taskTimeoutMs)} s each (${opts.deployment}, run ${runId})`);
  let done = 0;
  const rows = await mapConcurrent(tasks, opts.concurrency, async (task) => {
    const row = await runTask(deployment, task, {
      config: (workdir) =>
        opts.deployment === 'docker'
          ? { image: images.get(task.name)!, bundle: opts.bundleTag, workdir: WORKSPACE, cpus: 1, memoryBytes: 512 * 1024 * 1024, labels: { [RUN_LABEL]: runId } }
          : { image: '', bundle: AGENT_DIR, workdir },
      localCopy: opts.deployment === 'local',
      timeoutMs: opts.taskTimeoutMs,
      signal: opts.signal,
    });
    print(`  [${++done}/${tasks.length}] ${task.name}: ${row.result}${row.detail ? ` (${row.detail})` : ''}`);
    return row;
  });
  const wallMs = performance.now() - started;

  print('');
  print(scoreTable(rows));
  print('');
  print(`${summary(rows)}; wall time ${secs(wallMs)} s (setup ${secs(setupMs)} s, tasks ${secs(wallMs - setupMs)} s at concurrency ${opts.concurrency})`);
  if (opts.verbose) for (const r of rows) printTrajectory(print, r);

  if (opts.clean && docker) {
    await removeTaskImages(docker, tasks.map((t) => t.name));
    await removeBundleImage(docker, opts.bundleTag);
    print(`removed the task images and ${opts.bundleTag}`);
  }
  return { runId, rows, wallMs, setupMs, errors: rows.filter((r) => r.result === 'error' || r.result === 'stopped').length };
}

interface TaskRun {
  /** The sandbox config; `workdir` is the task's private copy under `localCopy`. */
  config: (workdir: string | undefined) => SandboxConfig;
  /** Local deployment: run in a temp copy of the repo (there is no image to start from). */
  localCopy: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One task in its own sandbox. Never throws: a harness failure becomes an `error` row. */
async function runTask(deployment: Deployment, task: Task, run: TaskRun): Promise<TaskRow> {
  const t0 = performance.now();
  let startSeconds = 0;
  let steps = 0;
  let trajectory: Step[] = [];
  const row = (result: string, detail: string): TaskRow => ({ task: task.name, result, steps, seconds: (performance.now() - t0) / 1000, startSeconds, detail, trajectory });
  if (run.signal?.aborted) return row('stopped', 'not started: the run was stopped');
  if (run.localCopy) mkdirSync(LOCAL_WORK_DIR, { recursive: true });
  const copy = run.localCopy ? mkdtempSync(join(LOCAL_WORK_DIR, `${task.name}-`)) : undefined;
  try {
    if (copy) cpSync(task.repoDir, copy, { recursive: true });
    const attempted = await session(deployment, run.config(copy), async (sandbox) => {
      startSeconds = (performance.now() - t0) / 1000;
      const client = await RuntimeClient.connect(sandbox);
      let stderr = '';
      client.on('log', (e) => {
        if (e.stream === 'stderr' && stderr.length < 16_384) stderr += e.text;
      });
      // A dying worker's last words travel on their own pipe and may arrive just after its calls fail: wait for them, briefly.
      const lastWords = async (): Promise<string> => {
        for (let waited = 0; !stderr && waited < LAST_WORDS_MS; waited += 25) await new Promise((r) => setTimeout(r, 25));
        return stderr;
      };
      // the task's budget starts when its sandbox is up; a stopped run ends it early too
      const budget = new AbortController();
      const timer = setTimeout(() => budget.abort(new Error(`task budget of ${run.timeoutMs} ms used up`)), run.timeoutMs);
      const stop = () => budget.abort(new Error('the run was stopped'));
      run.signal?.addEventListener('abort', stop);
      try {
        return await attempt(createRemote(client), task, budget.signal, lastWords);
      } finally {
        clearTimeout(timer);
        run.signal?.removeEventListener('abort', stop);
        await client.close();
      }
    });
    steps = attempted.steps;
    trajectory = attempted.trajectory;
    if (attempted.outcome === 'timed out' && run.signal?.aborted) return row('stopped', 'cancelled when the run was stopped');
    return row(attempted.outcome, attempted.outcome === 'timed out' ? `${attempted.detail} (${secs(run.timeoutMs)} s)` : attempted.detail);
  } catch (err) {
    return row('error', oneLine((err as Error).message));
  } finally {
    if (copy) rmSync(copy, { recursive: true, force: true });
  }
}

function printTrajectory(print: (line: string) => void, r: TaskRow): void {
  print(`\n${r.task} (${r.result}):`);
  for (const s of r.trajectory) print(`  ${s.ok ? '✓' : '✗'} ${describe(s.action)} [${s.ms} ms] → ${s.observation}`);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** A multi-line error (e.g. a sandbox's last output) as one table cell. */
function oneLine(text: string): string {
  const flat = text.trim().split('\n').map((l) => l.trim()).filter(Boolean).join(' | ');
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(1);
}

const USAGE = `usage: rollout [--concurrency N] [--timeout SECONDS] [--only NAME,NAME] [--deployment docker|local] [--bundle-tag TAG] [--clean] [--verbose]`;

/** Parses the command line; a string is the problem with it. */
export function parseArgs(argv: string[]): RolloutOptions | string | 'help' {
  const opts: RolloutOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '-h':
      case '--help':
        return 'help';
      case '--concurrency':
      case '-j': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) return `--concurrency needs a whole number ≥ 1, got ${JSON.stringify(v ?? '')}`;
        opts.concurrency = n;
        break;
      }
      case '--timeout': {
        const v = value();
        const s = Number(v);
        if (!(s > 0)) return `--timeout needs a number of seconds > 0, got ${JSON.stringify(v ?? '')}`;
        opts.taskTimeoutMs = Math.round(s * 1000);
        break;
      }
      case '--only': {
        const v = value();
        if (!v) return '--only needs task names, separated by commas';
        opts.only = v.split(',').filter(Boolean);
        break;
      }
      case '--deployment': {
        const v = value();
        if (v !== 'docker' && v !== 'local') return `--deployment must be docker or local, got ${JSON.stringify(v ?? '')}`;
        opts.deployment = v;
        break;
      }
      case '--bundle-tag': {
        const v = value();
        if (!v) return '--bundle-tag needs NAME[:TAG]';
        opts.bundleTag = v;
        break;
      }
      case '--clean':
        opts.clean = true;
        break;
      case '--verbose':
      case '-v':
        opts.verbose = true;
        break;
      default:
        return `unknown argument ${arg}`;
    }
  }
  return opts;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`rollout: ${parsed}\n${USAGE}\n`);
    return 2;
  }
  // Ctrl-C: cancel the running tasks so their sandboxes are removed, then exit
  const stop = new AbortController();
  const onSigint = () => {
    process.stderr.write('\nrollout: stopping (cancelling running tasks, removing their sandboxes)…\n');
    stop.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    const report = await rollout({ ...parsed, signal: stop.signal });
    if (report.errors > 0) process.stderr.write(`rollout: ${report.errors} task${report.errors === 1 ? '' : 's'} could not be scored (see the error and stopped rows)\n`);
    return report.errors > 0 ? 1 : 0;
  } catch (err) {
    process.stderr.write(`rollout: ${(err as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
