/**
 * Compiles a project's manifest modules into a run dir (what the runtime
 * serves, see docs/manifest.md):
 *
 *   <runDir>/manifest.json
 *   <runDir>/package.json         {"type":"module"}
 *   <runDir>/modules/<id>.js      one ESM file per manifest module
 *
 * `agentix serve` compiles with dependencies left as imports (they resolve
 * from the project's node_modules, next to which the run dir lives);
 * `agentix build` decides for itself via `external`.
 */
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { siblingEntry } from '../runtime/entry-path.js';
import type { Manifest } from '../runtime/manifest.js';

export interface CompileOptions {
  projectDir: string;
  manifest: Manifest;
  runDir: string;
  /** 'packages': leave every bare import external (serve); 'none': bundle everything; or a list of package names. */
  external?: 'packages' | 'none' | string[];
  minify?: boolean;
}

/**
 * The sandbox-side API of the agentix package. User code's `import … from
 * 'agentix'` is pointed here, so a bundle does not drag in the host side
 * (the client, deployments, dockerode).
 */
export function sandboxApiEntry(): string {
  return siblingEntry(import.meta.url, '../runtime/sandbox-api');
}

export async function compileRunDir(opts: CompileOptions): Promise<void> {
  const { projectDir, manifest, runDir } = opts;
  rmSync(join(runDir, 'modules'), { recursive: true, force: true });
  mkdirSync(join(runDir, 'modules'), { recursive: true });
  const entryPoints: Record<string, string> = {};
  for (const [id, file] of Object.entries(manifest.modules)) {
    entryPoints[id] = isAbsolute(file) ? file : resolve(projectDir, file);
  }
  const external = opts.external ?? 'packages';
  if (Object.keys(entryPoints).length > 0) {
    await build({
      entryPoints,
      outdir: join(runDir, 'modules'),
      absWorkingDir: resolve(projectDir),
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      outExtension: { '.js': '.js' },
      chunkNames: 'chunks/[name]-[hash]',
      packages: external === 'packages' ? 'external' : undefined,
      external: Array.isArray(external) ? external : undefined,
      alias: { agentix: sandboxApiEntry() },
      minify: opts.minify ?? false,
      sourcemap: 'inline',
      logLevel: 'silent',
      // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
      banner: external === 'packages' ? undefined : { js: "import { createRequire as __agentixCreateRequire } from 'node:module'; const require = __agentixCreateRequire(import.meta.url);" },
    });
  }
  writeFileSync(join(runDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  writeFileSync(join(runDir, 'package.json'), '{"type":"module"}\n');
}
