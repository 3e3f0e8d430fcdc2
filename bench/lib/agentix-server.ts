/**
 * Starts the Agentix runtime server for the bench project, the way a user
 * would: `agentix serve <dir>` when the CLI is there (gen + compile + start),
 * otherwise `runtime/server/main.ts` on a run dir made here from the
 * hand-written manifest (bench/project/agentix-gen/manifest.json) and
 * esbuild. Either way the server and its worker subprocess run pinned to the
 * server CPU.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { readManifest } from '../../runtime/manifest.js';
import { briefError } from './errors.js';
import { TSX_ARGS } from './node-args.js';
import { pinPrefix } from './placement.js';
import { startServer, type Started } from './process.js';
import { copyBenchProject, REPO_ROOT, tempDir } from './project-copy.js';

export interface AgentixServer extends Started { token: string; via: string }

export async function startAgentix(cpu: number | undefined, timeoutMs: number): Promise<AgentixServer> {
  const token = randomBytes(16).toString('hex');
  const project = copyBenchProject();
  const cleanups = [project.remove];
  const cleanup = () => { for (const c of cleanups) c(); };
  try {
    let started: Started | undefined;
    let via = '';
    const failures: string[] = [];
    // The built CLI, as users run it (`npx agentix serve`); from source through tsx only when dist/ is missing.
    const built = join(REPO_ROOT, 'dist/cli/main.js');
    const cli = existsSync(built) ? [built] : [...TSX_ARGS, join(REPO_ROOT, 'cli/main.ts')];
    if (existsSync(built) || existsSync(join(REPO_ROOT, 'cli/main.ts'))) {
      try {
        started = await startServer([...pinPrefix(cpu), process.execPath, ...cli, 'serve', project.dir, '--port', '0', '--host', '127.0.0.1', '--token', token], {
          cwd: project.dir, timeoutMs,
        });
        via = `agentix serve (${existsSync(built) ? 'dist/cli/main.js' : 'cli/main.ts via tsx'}: gen + compile + runtime server)`;
      } catch (err) {
        failures.push(`agentix serve failed: ${briefError(err)}`);
      }
    }
    if (!started && existsSync(join(REPO_ROOT, 'runtime/server/main.ts'))) {
      const run = tempDir('rundir');
      cleanups.push(run.remove);
      await makeRunDir(project.dir, run.dir);
      started = await startServer([...pinPrefix(cpu), process.execPath, ...TSX_ARGS, join(REPO_ROOT, 'runtime/server/main.ts'), run.dir], {
        cwd: project.dir, timeoutMs,
        env: { AGENTIX_TOKEN: token, AGENTIX_BIND_PORT: '0', AGENTIX_BIND_HOST: '127.0.0.1' },
      });
      via = `runtime/server/main.ts via tsx on a run dir made by the bench from the hand-written manifest${failures.length ? ` (${failures.join('; ')})` : ''}`;
    }
    if (!started) throw new Error(failures.join('; ') || 'neither cli/main.ts nor runtime/server/main.ts is in the tree yet');
    const server = started;
    const url = server.url.replace('//0.0.0.0:', '//127.0.0.1:');
    return { ...server, url, token, via, stop: async () => { await server.stop(); cleanup(); } };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** The run dir layout the runtime serves: manifest.json, modules/<id>.js, package.json. */
async function makeRunDir(projectDir: string, runDir: string): Promise<void> {
  const manifest = readManifest(join(projectDir, 'agentix-gen/manifest.json'));
  mkdirSync(join(runDir, 'modules'), { recursive: true });
  for (const [id, file] of Object.entries(manifest.modules)) {
    await build({ entryPoints: [join(projectDir, file)], outfile: join(runDir, 'modules', `${id}.js`), bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'silent' });
  }
  writeFileSync(join(runDir, 'manifest.json'), JSON.stringify(manifest));
  writeFileSync(join(runDir, 'package.json'), '{"type":"module"}\n');
}

