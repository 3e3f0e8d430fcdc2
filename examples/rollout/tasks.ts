/**
 * Task definitions: one folder per task under fixtures/rollout/tasks/<name>/,
 * holding `task.json` (the instruction, the check, and the scripted agent's
 * actions) and `repo/` (the files that become the sandbox's /workspace).
 * Everything is checked on load, so a typo fails before any sandbox starts,
 * with the file and the field named.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TASKS_DIR = fileURLToPath(new URL('../../fixtures/rollout/tasks', import.meta.url));

/**
 * One step of the scripted agent. Each maps to one remote call: `list`,
 * `read`, `write` and `run` to the built-in plugins, `edit`, `grep` and
 * `normalize` to the agent project's own functions (agent/src/index.ts).
 */
export type Action =
  | { do: 'list'; path?: string }
  | { do: 'read'; path: string }
  | { do: 'write'; path: string; content: string }
  | { do: 'run'; command: string }
  | { do: 'edit'; path: string; find: string; replace: string }
  | { do: 'grep'; path: string; pattern: string }
  | { do: 'normalize'; path: string };

export interface Task {
  name: string;
  instruction: string;
  /** Shell command run in /workspace after the agent is done: exit 0 means solved. */
  check: string;
  /** What the scripted agent does, in order (a stand-in for a model's choices). */
  agent: Action[];
  /** Why the task is in the set, when it is there to misbehave. */
  note?: string;
  /** The folder whose files become /workspace. */
  repoDir: string;
}

/** The string fields each action needs. */
const ACTION_FIELDS: Record<Action['do'], { required: string[]; optional?: string[] }> = {
  list: { required: [], optional: ['path'] },
  read: { required: ['path'] },
  write: { required: ['path', 'content'] },
  run: { required: ['command'] },
  edit: { required: ['path', 'find', 'replace'] },
  grep: { required: ['path', 'pattern'] },
  normalize: { required: ['path'] },
};

const NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Every task under `dir` (sorted by name), or only those named in `only`. */
export function loadTasks(dir = TASKS_DIR, only?: string[]): Task[] {
  if (!existsSync(dir)) throw new Error(`task directory ${dir} does not exist`);
  const names = readdirSync(dir)
    .filter((n) => statSync(join(dir, n)).isDirectory())
    .sort();
  const tasks = names.map((n) => loadTask(join(dir, n)));
  if (!only || only.length === 0) return tasks;
  const unknown = only.filter((n) => !names.includes(n));
  if (unknown.length > 0) throw new Error(`unknown task${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (have: ${names.join(', ')})`);
  return tasks.filter((t) => only.includes(t.name));
}

export function loadTask(taskDir: string): Task {
  const name = taskDir.split('/').pop()!;
  const file = join(taskDir, 'task.json');
  const rel = relative(process.cwd(), file);
  const where = rel && !rel.startsWith('..') ? rel : file;
  const bad = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (!NAME.test(name)) bad(`task folder name ${JSON.stringify(name)} must be lowercase letters, digits and '-' (it becomes an image tag)`);
  if (!existsSync(file)) bad('missing');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return bad(`not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('must hold a JSON object');
  const t = raw as Record<string, unknown>;
  for (const key of ['instruction', 'check'])
    if (typeof t[key] !== 'string' || !(t[key] as string).trim()) bad(`"${key}" must be a non-empty string`);
  if (t.note !== undefined && typeof t.note !== 'string') bad('"note" must be a string');
  if (!Array.isArray(t.agent) || t.agent.length === 0) bad('"agent" must be a non-empty array of actions');
  const agent = (t.agent as unknown[]).map((a, i) => checkAction(a, (what) => bad(`agent[${i}]: ${what}`)));
  const repoDir = join(taskDir, 'repo');
  if (!existsSync(repoDir) || !statSync(repoDir).isDirectory()) bad(`the task's files belong in ${join(relative(process.cwd(), taskDir) || taskDir, 'repo')}/, which is missing`);
  return { name, instruction: t.instruction as string, check: t.check as string, agent, note: t.note as string | undefined, repoDir };
}

function checkAction(a: unknown, bad: (what: string) => never): Action {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return bad('must be an object like {"do": "read", "path": "…"}');
  const obj = a as Record<string, unknown>;
  const kind = obj.do;
  if (typeof kind !== 'string' || !(kind in ACTION_FIELDS)) return bad(`"do" must be one of ${Object.keys(ACTION_FIELDS).join(', ')}, got ${JSON.stringify(kind)}`);
  const spec = ACTION_FIELDS[kind as Action['do']];
  for (const f of spec.required) if (typeof obj[f] !== 'string') bad(`"${kind}" needs a string "${f}"`);
  for (const f of spec.optional ?? []) if (obj[f] !== undefined && typeof obj[f] !== 'string') bad(`"${f}" must be a string`);
  const allowed = new Set(['do', ...spec.required, ...(spec.optional ?? [])]);
  for (const f of Object.keys(obj)) if (!allowed.has(f)) bad(`"${kind}" has no field "${f}"`);
  return obj as unknown as Action;
}
