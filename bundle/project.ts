/**
 * The two steps every way of running a project shares (serve, local
 * deployment, build): get its manifest, and compile its modules into a run
 * dir.
 */
import { processAlive } from '../runtime/process-alive.js';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest, type Manifest } from '../runtime/manifest.js';
import { compileRunDir } from './compile.js';
import { AgentixError } from '../runtime/wire/errors.js';

/** Where `agentix gen` writes by default, relative to the project. */
export const GEN_DIR = 'agentix-gen';
/** Where serve and the local deployment compile the project, relative to it; each process gets its own subfolder. */
export const RUN_DIR = join('.agentix', 'run');

/**
 * An error whose message is already fit for a user: an AgentixError (the one
 * convention for the framework's errors), which the CLI prints without a stack.
 */
export function friendly(message: string): AgentixError {
  return new AgentixError('INVALID_ARGUMENT', message);
}

/**
 * Generates the manifest (the compiler writes agentix-gen/) or, with
 * `generate: false`, reads the one already there.
 */
export async function loadProjectManifest(projectDir: string, opts: { generate: boolean }): Promise<Manifest> {
  if (!existsSync(projectDir)) throw friendly(`project directory ${projectDir} does not exist`);
  const file = join(projectDir, GEN_DIR, 'manifest.json');
  if (!opts.generate) {
    if (!existsSync(file)) throw friendly(`${file} does not exist: run agentix gen ${projectDir} first`);
    return readManifest(file);
  }
  const { generate } = await import('../codegen/index.js');
  const result = await generate({ projectDir, write: true });
  return result.manifest;
}

/**
 * Compiles the project into `<projectDir>/.agentix/run/<name>` and returns
 * that path. Each process uses its own name, so two servers of one project
 * never overwrite each other's modules; the dir is removed when the process exits.
 * The run dir sits inside the project so bare imports resolve from its node_modules.
 */
export async function prepareRunDir(projectDir: string, manifest: Manifest, name: string): Promise<string> {
  removeOrphanRunDirs(join(projectDir, RUN_DIR));
  const runDir = join(projectDir, RUN_DIR, name);
  // Registered before compiling: a failed compile leaves nothing behind either.
  removeRunDirOnExit(runDir);
  try {
    await compileRunDir({ projectDir, manifest, runDir, external: 'packages' });
  } catch (err) {
    throw friendly(`compiling ${projectDir} failed: ${(err as Error).message}`);
  }
  return runDir;
}

/**
 * Run dirs are named `<kind>-<pid>`; one whose process is gone (killed before
 * its exit handler could run) is removed by the next process that compiles here.
 */
function removeOrphanRunDirs(parent: string): void {
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    const pid = Number(/-(\d+)$/.exec(name)?.[1]);
    if (pid > 0 && !processAlive(pid)) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/** Removes a run dir when this process exits (normally or by a handled signal). */
function removeRunDirOnExit(runDir: string): void {
  process.once('exit', () => rmSync(runDir, { recursive: true, force: true }));
}
