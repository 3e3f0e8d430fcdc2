/**
 * `agentix build --nix`: the same bundle built by Nix from nix/bundle.nix
 * where Nix is installed. We prepare what Nix cannot (the manifest, the
 * compiled run dir, the bundled runtime), nix-build turns them plus nodejs,
 * the tools and the package-lock.json dependencies into a
 * streamLayeredImage script, and its output goes to `docker load` or a file.
 * Our CI has no Nix store to fetch from, so this path is checked by parsing
 * only (test/bundle/nix.test.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { dockerFromEnv, pingEngine } from './docker-engine.js';
import { compileRunDir } from './compile.js';
import { normaliseTag, splitTag } from './load.js';
import { agentixRoot } from './package-root.js';
import { friendly, loadProjectManifest } from './project.js';
import { bundleRuntime } from './runtime-js.js';
import { sandboxEnvSource } from './sandbox-env.js';
import { DEFAULT_TOOLS } from './tools.js';

const run = promisify(execFile);

export interface NixBuildOptions {
  projectDir: string;
  tag: string;
  out?: string;
  load?: boolean;
  tools?: string[];
  onProgress?: (step: string, ms: number) => void;
}

/** The expression file, for `nix-instantiate --parse` checks and for nix-build. */
export function nixExpression(): string {
  return join(agentixRoot(), 'nix', 'bundle.nix');
}

export async function nixAvailable(): Promise<boolean> {
  try {
    await run('nix-build', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export async function buildWithNix(opts: NixBuildOptions): Promise<{ tag: string; imageId?: string; archive?: string }> {
  if (!(await nixAvailable()))
    throw friendly('--nix needs Nix on this host (nix-build not found): install Nix, or build without --nix (the default build needs no Nix)');
  const projectDir = resolve(opts.projectDir);
  const tag = normaliseTag(opts.tag);
  const { repo, tag: version } = splitTag(tag);
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await work();
    opts.onProgress?.(name, Math.round(performance.now() - t0));
    return r;
  };
  const buildDir = join(projectDir, '.agentix', 'nix');
  mkdirSync(buildDir, { recursive: true });
  const manifest = await step('generate manifest', () => loadProjectManifest(projectDir, { generate: true }));
  const appDir = join(buildDir, 'app');
  await step('compile project', () => compileRunDir({ projectDir, manifest, runDir: appDir, external: 'packages' }));
  const runtimeDir = join(buildDir, 'runtime');
  await step('bundle runtime', () => bundleRuntime(runtimeDir));
  // nixpkgs' tools find their helpers on their own: no tool variables
  writeFileSync(join(runtimeDir, 'sandbox-env.js'), sandboxEnvSource({}));
  const tools = opts.tools ?? DEFAULT_TOOLS;
  const result = join(buildDir, 'result');
  await step('nix-build', async () => {
    try {
      await run('nix-build', [
        nixExpression(),
        '--arg', 'appDir', appDir,
        '--arg', 'runtimeDir', runtimeDir,
        '--arg', 'projectDir', projectDir,
        '--argstr', 'name', repo,
        '--argstr', 'tag', version,
        '--arg', 'tools', `[ ${tools.map((t) => JSON.stringify(t)).join(' ')} ]`,
        '-o', result,
      ], { maxBuffer: 64 << 20 });
    } catch (err) {
      const stderr = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').slice(-15).join('\n');
      throw friendly(`nix-build failed:\n${stderr || (err as Error).message}`);
    }
  });
  if (!existsSync(result)) throw friendly(`nix-build did not produce ${result}`);
  const stream = () => {
    const child = spawn(result, [], { stdio: ['ignore', 'pipe', 'inherit'] });
    return child.stdout;
  };
  let archive: string | undefined;
  if (opts.out) {
    archive = resolve(opts.out);
    await step(`write ${archive}`, () => pipeline(stream(), createWriteStream(archive!)));
  }
  let imageId: string | undefined;
  if (opts.load ?? !opts.out) {
    const docker = dockerFromEnv();
    await pingEngine(docker);
    await step(`load image ${tag}`, async () => {
      const res = await docker.loadImage(stream(), { quiet: true });
      for await (const _ of res as AsyncIterable<Buffer>) {
        // drain the engine's progress lines
      }
      imageId = (await docker.getImage(tag).inspect()).Id;
    });
  }
  return { tag, imageId, archive };
}
