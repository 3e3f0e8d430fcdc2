/**
 * Bundles the runtime (server-main and worker-main, with ws, msgpackr and
 * typebox inlined) into ESM files for /nix/runtime/app/runtime/: the two
 * entries and, under chunks/, what they share and what they import lazily.
 * The split is for start-up: node compiles a whole file before it runs any
 * of it, so the server's entry stays small enough to start its worker after
 * a few milliseconds (server/main.ts imports the rest, ws and msgpackr among
 * it, afterwards), and the worker is ready without compiling typebox (~450 KB,
 * loaded by the first target that has a schema). The project's own code is
 * not part of this: it goes into the app layer, so editing it never changes
 * the runtime layer.
 */
import { existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { agentixRoot } from './package-root.js';

/** Optional native add-ons that ws and msgpackr try to load and fall back from when absent. */
const OPTIONAL_NATIVE = ['bufferutil', 'utf-8-validate', 'msgpackr-extract'];

/** Source entries in a checkout, the built ones when installed from npm. */
export function runtimeEntries(root = agentixRoot()): { server: string; worker: string } {
  for (const [dir, ext] of [['runtime', 'ts'], ['dist/runtime', 'js']] as const) {
    const server = join(root, dir, `server/main.${ext}`);
    const worker = join(root, dir, `worker/main.${ext}`);
    if (existsSync(server) && existsSync(worker)) return { server, worker };
  }
  throw new Error(`the agentix runtime is missing: neither ${root}/runtime/server/main.ts nor ${root}/dist/runtime/server/main.js exists`);
}

export interface RuntimeJs {
  server: string;
  worker: string;
  /** Every file written, relative to the output directory (the two entries and chunks/*), sorted. */
  files: string[];
}

export async function bundleRuntime(outDir: string): Promise<RuntimeJs> {
  const root = agentixRoot();
  const entries = runtimeEntries(root);
  // chunks of an earlier bundle in the same place must not be shipped with this one
  rmSync(outDir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { 'server-main': entries.server, 'worker-main': entries.worker },
    outdir: outDir,
    // stable source-path comments whatever the checkout's location
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: OPTIONAL_NATIVE,
    // inlined CommonJS (ws) calls require(); give the ESM output a real one
    banner: { js: "import { createRequire as __agentixCreateRequire } from 'node:module'; const require = __agentixCreateRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = Object.keys(result.metafile.outputs).map((f) => relative(outDir, join(root, f))).sort();
  return { server: join(outDir, 'server-main.js'), worker: join(outDir, 'worker-main.js'), files };
}
