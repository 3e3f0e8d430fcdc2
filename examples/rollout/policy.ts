/**
 * The agent loop, host side: replays a task's scripted actions against its
 * sandbox through the typed remote, then scores the attempt by running the
 * task's check. A real rollout puts a model where `task.agent` is (choose the
 * next action from the observations so far); the calls, the error handling
 * and the scoring stay the same.
 *
 * How an attempt ends:
 *   passed     the check exits 0
 *   failed     the check exits non-zero (the agent's answer is wrong)
 *   crashed    agent code killed the sandbox's worker (WORKER_EXITED)
 *   timed out  the task's time budget ran out; the call in flight is cancelled
 * A tool that throws is not the end: its error is an observation, as it would
 * be for a model. Anything else (lost connection, protocol error) is thrown:
 * that is the harness failing, not the agent.
 */
import { RemoteError } from 'agentix';
import type { CallOptions, Remote } from './agent/agentix-gen/client.js';
import type { Action, Task } from './tasks.js';

export type Outcome = 'passed' | 'failed' | 'crashed' | 'timed out';

export interface Step {
  action: Action;
  /** false: the tool threw (the observation is its error). */
  ok: boolean;
  observation: string;
  ms: number;
}

export interface Attempt {
  outcome: Outcome;
  /** Agent actions attempted (the check is not counted). */
  steps: number;
  /** One line saying why, for the score table. */
  detail: string;
  trajectory: Step[];
}

/**
 * Runs one attempt. `signal` is the task's time budget: every call carries it,
 * so when it fires the call in flight is cancelled in the sandbox too.
 * `stderr` resolves to what the sandbox's code wrote to stderr (for the crash
 * detail).
 */
export async function attempt(remote: Remote, task: Task, signal: AbortSignal, stderr: () => Promise<string> = async () => ''): Promise<Attempt> {
  const opts: CallOptions = { signal };
  const trajectory: Step[] = [];
  const end = (outcome: Outcome, detail: string): Attempt => ({ outcome, steps: trajectory.length, detail, trajectory });

  for (const action of task.agent) {
    const t0 = performance.now();
    const step: Step = { action, ok: true, observation: '', ms: 0 };
    trajectory.push(step);
    try {
      step.observation = await act(remote, action, opts);
    } catch (err) {
      step.ok = false;
      step.observation = (err as Error).message;
      if (signal.aborted) return end('timed out', `${describe(action)} was still running when the time was up`);
      if (!(err instanceof RemoteError)) throw err;
      if (err.code === 'WORKER_EXITED') {
        const said = lastLine(await stderr());
        return end('crashed', `${describe(action)}: ${err.message}${said ? ` (stderr: ${said})` : ''}`);
      }
      if (err.code !== 'REMOTE') throw err;
      // the tool's own error: the agent sees it and goes on
    } finally {
      step.ms = Math.round(performance.now() - t0);
    }
  }

  let check;
  try {
    check = await remote.bash.run(task.check, {}, opts);
  } catch (err) {
    if (signal.aborted) return end('timed out', `the check was still running when the time was up`);
    throw err;
  }
  if (check.exitCode === 0) return end('passed', '');
  const said = lastLine(check.stdout) || lastLine(check.stderr);
  return end('failed', `check exited ${check.exitCode ?? check.signal}${said ? `: ${said}` : ''}`);
}

/** One action = one remote call; returns a short observation. */
async function act(remote: Remote, action: Action, opts: CallOptions): Promise<string> {
  switch (action.do) {
    case 'list': {
      const entries = await remote.files.list(action.path ?? '.', opts);
      return entries.map((e) => (e.type === 'dir' ? `${e.name}/` : e.name)).join(' ');
    }
    case 'read': {
      const bytes = await remote.files.read(action.path, opts);
      return `${bytes.length} bytes: ${JSON.stringify(Buffer.from(bytes).toString('utf8').slice(0, 60))}…`;
    }
    case 'write': {
      const r = await remote.files.write(action.path, action.content, {}, opts);
      return `wrote ${r.bytes} bytes`;
    }
    case 'run': {
      const r = await remote.bash.run(action.command, {}, opts);
      return `exit ${r.exitCode ?? r.signal}${lastLine(r.stdout + r.stderr) ? `: ${lastLine(r.stdout + r.stderr)}` : ''}`;
    }
    case 'edit': {
      const r = await remote.applyEdit({ path: action.path, find: action.find, replace: action.replace }, opts);
      return `edited ${r.path} at line ${r.line}`;
    }
    case 'grep': {
      const matches = await remote.grep(action.pattern, action.path, 20, opts);
      return `${matches.length} match${matches.length === 1 ? '' : 'es'}${matches[0] ? `: ${matches[0].line}: ${matches[0].text}` : ''}`;
    }
    case 'normalize': {
      const r = await remote.normalize(action.path, opts);
      return `${r.crlf} CRLF line endings fixed`;
    }
  }
}

export function describe(action: Action): string {
  switch (action.do) {
    case 'run':
      return `run ${JSON.stringify(action.command)}`;
    case 'grep':
      return `grep ${JSON.stringify(action.pattern)} ${action.path}`;
    case 'list':
      return `list ${action.path ?? '.'}`;
    default:
      return `${action.do} ${action.path}`;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').trim().slice(0, 100);
}
