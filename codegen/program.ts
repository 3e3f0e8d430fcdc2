/**
 * The ts-morph project the compiler analyses. Settings are fixed, not read
 * from the user's tsconfig: `lib: ES2022` and no ambient `@types` so the DOM
 * and Node's typings are not loaded unless needed (they double cold start);
 * Node's types are added only when a signature needs them (see index.ts).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Project, ts } from 'ts-morph';
import { agentixRoot } from './config.js';

export interface ProgramOptions {
  projectDir: string;
  files: string[];
  /**
   * The thorough mode: load `@types/node` (Buffer, node: modules) and, where
   * 'agentix' has to be mapped to this package's sources, map it to the whole
   * index.ts rather than the sandbox-side view.
   */
  full: boolean;
}

export function createProject(opts: ProgramOptions): Project {
  const compilerOptions: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: [],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    resolveJsonModule: true,
    esModuleInterop: true,
  };
  Object.assign(compilerOptions, projectPaths(opts.projectDir));
  if (opts.full) {
    const typeRoots = typeRootsWithNode(opts.projectDir);
    if (typeRoots.length > 0) Object.assign(compilerOptions, { types: ['node'], typeRoots });
  }
  // Project code imports the sandbox-side API from 'agentix' (Channel, currentSignal). Resolved the usual way
  // it would load the whole package's typings (client, ws, dockerode) and double the cold start, so the quick
  // mode maps it to that small API; the thorough mode uses the project's own resolution, or this package's
  // sources inside this repository, where it would resolve to an unbuilt dist/.
  const root = agentixRoot();
  const view = join(root, 'runtime', 'sandbox-api.ts');
  const probe = ts.resolveModuleName('agentix', opts.files[0]!, compilerOptions, ts.sys);
  const resolves = !!probe.resolvedModule && existsSync(probe.resolvedModule.resolvedFileName);
  const index = join(root, 'index.ts');
  const target = !opts.full && existsSync(view) ? view : resolves ? undefined : existsSync(index) ? index : view;
  if (target) {
    compilerOptions.paths = { ...compilerOptions.paths, agentix: [target] };
    compilerOptions.baseUrl ??= opts.projectDir;
  }
  const project = new Project({ compilerOptions, skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true });
  for (const f of opts.files) project.addSourceFileAtPath(f);
  return project;
}

/** `node_modules/@types` folders (above the project, then above agentix) that hold `node`. */
function typeRootsWithNode(projectDir: string): string[] {
  for (const start of [projectDir, agentixRoot()]) {
    for (let dir = start; ; dir = dirname(dir)) {
      const types = join(dir, 'node_modules', '@types');
      if (existsSync(join(types, 'node', 'package.json'))) return [types];
      if (dirname(dir) === dir) break;
    }
  }
  return [];
}

/**
 * The one thing taken from the project's own tsconfig.json: import aliases
 * (`paths`, `baseUrl`), without which its imports would not resolve. Its
 * `extends` chain is not followed.
 */
function projectPaths(projectDir: string): Pick<ts.CompilerOptions, 'paths' | 'baseUrl'> {
  const file = join(projectDir, 'tsconfig.json');
  if (!existsSync(file)) return {};
  const { config } = ts.readConfigFile(file, ts.sys.readFile);
  const co = config?.compilerOptions as { paths?: Record<string, string[]>; baseUrl?: string } | undefined;
  if (!co?.paths) return {};
  return { paths: co.paths, baseUrl: resolve(projectDir, co.baseUrl ?? '.') };
}
