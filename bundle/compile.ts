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
import { build, type Plugin } from 'esbuild';
import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { siblingEntry } from '../runtime/entry-path.js';
import type { Manifest } from '../runtime/manifest.js';
import { agentixRoot } from './package-root.js';

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
      plugins: [agentixOwnDependencies(external === 'packages' ? 'external' : 'bundle')],
      minify: opts.minify ?? false,
      sourcemap: 'inline',
      // The map is for stack traces (mappings and file names); the sources a second time inside it
      // were most of a module's bytes, and the worker decodes every inline map when it imports the module.
      sourcesContent: false,

      logLevel: 'silent',
      // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
      banner: external === 'packages' ? undefined : { js: "import { createRequire as __agentixCreateRequire } from 'node:module'; const require = __agentixCreateRequire(import.meta.url);" },
    });
  }
  writeFileSync(join(runDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  writeFileSync(join(runDir, 'package.json'), '{"type":"module"}\n');
}

/** A bare package import (`tar-stream`, `@scope/x/sub`), not a path, a Node built-in or `agentix` itself. */
function isPackageImport(path: string): boolean {
  return !/^(\.|\/|#|[a-z][a-z0-9+.-]*:)/i.test(path) && !isBuiltin(path) && path !== 'agentix' && !path.startsWith('agentix/');
}

function inside(file: string, dir: string): boolean {
  const rel = relative(dir, file);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The built-in plugins' own dependencies (the files plugin's tar-stream)
 * come from Agentix's install, not from the project's node_modules: with
 * Agentix linked (`npm link`, a workspace, pnpm) the project has no copy,
 * and one it has may be another version. A bare import in a file of the
 * agentix package (its plugins and runtime, in the source tree or built) is
 * resolved from that file, as Node would: `'external'`
 * (serve) keeps it an import, of that absolute file; `'bundle'` (build)
 * bundles that file, whatever the project ships.
 */
function agentixOwnDependencies(mode: 'external' | 'bundle'): Plugin {
  let own: string[];
  try {
    const root = realpathSync(agentixRoot());
    // Not the whole package: a project inside its tree (the examples) keeps its own rules.
    own = ['plugins', 'runtime', 'dist'].map((d) => join(root, d));
  } catch {
    return { name: 'agentix-own-dependencies', setup: () => undefined };
  }
  return {
    name: 'agentix-own-dependencies',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (!args.importer || !isPackageImport(args.path)) return undefined;
        let importer: string;
        try {
          importer = realpathSync(args.importer);
        } catch {
          return undefined;
        }
        if (!own.some((dir) => inside(importer, dir))) return undefined;
        const found = await resolveIgnoringExternals(args.path, args.resolveDir, args.kind);
        if (!found) return undefined; // esbuild's own resolution reports what is missing
        return mode === 'external' ? { path: pathToFileURL(found).href, external: true } : { path: found };
      });
    },
  };
}

/**
 * Where esbuild would find `path` from `resolveDir` if nothing were
 * external (the main build's `packages` / `external` settings make its own
 * resolve() answer "external" instead of a file).
 */
async function resolveIgnoringExternals(path: string, resolveDir: string, kind: import('esbuild').ImportKind): Promise<string | undefined> {
  let found: string | undefined;
  await build({
    stdin: { contents: kind === 'require-call' ? `require(${JSON.stringify(path)})` : `import ${JSON.stringify(path)}`, resolveDir, loader: 'js' },
    bundle: true,
    write: false,
    platform: 'node',
    format: kind === 'require-call' ? 'cjs' : 'esm',
    logLevel: 'silent',
    plugins: [
      {
        name: 'capture',
        setup(b) {
          b.onResolve({ filter: /.*/ }, async (args) => {
            if (args.pluginData === 'capture') return undefined;
            const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'capture' });
            if (r.errors.length === 0 && !r.external) found = r.path;
            return { path: args.path, external: true };
          });
        },
      },
    ],
  }).catch(() => undefined);
  return found;
}
