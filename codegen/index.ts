/**
 * `agentix gen` as a library: analyse a project's entry module (and its
 * plugins), then emit `manifest.json`, `client.ts` and `schemas.ts`.
 * `agentix serve` and `agentix build` call `generate()` first.
 *
 * Model first, emit second: checker types → type model (model/) →
 * emitters (emit/), which never look at the checker.
 */
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { Manifest } from '../runtime/manifest.js';
import { analyzeModule } from './analyze.js';
import { APP_MODULE, loadConfig, type ProjectConfig } from './config.js';
import { buildManifest, manifestFile } from './emit/manifest.js';
import { schemasFile } from './emit/schemas.js';
import { clientFile } from './emit/stubs.js';
import { GenError } from './errors.js';
import { convertType, ModelContext } from './model/index.js';
import type { ProgramModel, TargetModel } from './model/types.js';
import { createProject } from './program.js';
import { ts } from 'ts-morph';
import { staleReasons } from './stale.js';
import { summaryTable } from './summary.js';

export { GenError } from './errors.js';
export type { ProgramModel, TargetModel, TypeModel } from './model/types.js';

export interface GenOptions {
  projectDir: string;
  /** Default `<projectDir>/agentix-gen`; a relative path is relative to `projectDir`. */
  outDir?: string;
  /** Compare with the files on disk; never writes. */
  check?: boolean;
  /** Write the files (default: true unless `check`). Unchanged files are left untouched. */
  write?: boolean;
}

export interface GenResult {
  manifest: Manifest;
  outDir: string;
  /** Absolute paths and contents of the generated files. */
  files: { path: string; content: string }[];
  /** What differs from the files on disk, one line each (`agentix-gen/manifest.json: target "run" changed (args)`); empty when up to date. */
  stale: string[];
  warnings: string[];
  /** The analysed targets, sorted by name (for summaries). */
  targets: TargetModel[];
  /** The friendly table the CLI prints. */
  summary: string;
}

export const DEFAULT_OUT_DIR = 'agentix-gen';

export async function generate(opts: GenOptions): Promise<GenResult> {
  const warnings: string[] = [];
  const config = loadConfig(opts.projectDir, warnings);
  const projectDir = config.projectDir;
  const outDir = resolve(projectDir, opts.outDir ?? DEFAULT_OUT_DIR);
  const program = analyzeWithRetry(config, warnings);
  const manifest = buildManifest(program);
  const files = [
    { path: join(outDir, 'manifest.json'), content: manifestFile(manifest) },
    { path: join(outDir, 'client.ts'), content: clientFile(program) },
    { path: join(outDir, 'schemas.ts'), content: schemasFile(manifest) },
  ];
  const display = (p: string) => {
    const rel = relative(projectDir, p);
    return rel.startsWith('..') ? p : rel.split(sep).join('/');
  };
  const stale = staleReasons(files, display, files[0]!.path, manifest);
  const write = opts.write ?? !opts.check;
  if (write && stale.length > 0) {
    mkdirSync(outDir, { recursive: true });
    for (const f of files) {
      if (!existsSync(f.path) || readFileSync(f.path, 'utf8') !== f.content) writeFileSync(f.path, f.content);
    }
  }
  const targets = [...program.targets].sort((a, b) => (a.name < b.name ? -1 : 1));
  return { manifest, outDir, files, stale, warnings, targets, summary: summaryTable(targets) };
}

/**
 * A fast pass first: no Node typings, and only the sandbox-side part of
 * 'agentix'. Only if a signature then has an unresolved type (Buffer, a type
 * from a `node:` module) does the thorough pass run: Node's typings cost about
 * as much as everything else together. Modules that merely *use* Node inside
 * their bodies (the bash and files plugins) stay on the fast pass.
 */
function analyzeWithRetry(config: ProjectConfig, warnings: string[]): ProgramModel {
  const mark = warnings.length;
  try {
    return analyze(config, false, warnings);
  } catch (err) {
    if (!(err instanceof GenError) || err.code !== 'unresolved') throw err;
    warnings.length = mark;
    return analyze(config, true, warnings);
  }
}

const RESERVED = new Set(['$with']);

function analyze(config: ProjectConfig, full: boolean, warnings: string[]): ProgramModel {
  const { projectDir, modules } = config;
  const project = createProject({ projectDir, files: modules.map((m) => m.file), full });
  const program = project.getProgram().compilerObject;
  const ctx = new ModelContext(project.getTypeChecker().compilerObject, program, projectDir, warnings, convertType);
  const targets: TargetModel[] = [];
  for (const m of modules) {
    const sf = project.getSourceFileOrThrow(m.file);
    // Syntax errors first: the checker's guesses about a broken file would only confuse.
    const syntax = program.getSyntacticDiagnostics(sf.compilerNode)[0];
    if (syntax) {
      const line = syntax.start === undefined ? undefined : sf.compilerNode.getLineAndCharacterOfPosition(syntax.start).line + 1;
      throw new GenError(`syntax error: ${ts.flattenDiagnosticMessageText(syntax.messageText, '\n')}`, ctx.relativeFile(m.file), line);
    }
    targets.push(...analyzeModule(sf, m.id, ctx));
  }
  const namespaces = new Set(modules.filter((m) => m.id !== APP_MODULE).map((m) => m.id));
  for (const t of targets) {
    if (t.module !== APP_MODULE) continue;
    if (RESERVED.has(t.name)) throw new GenError(`export "${t.name}" is reserved in the generated client (remote.$with); rename it`, t.file, t.line);
    if (namespaces.has(t.name)) throw new GenError(`export "${t.name}" clashes with the plugin namespace "${t.name}" (remote.${t.name}); rename it`, t.file, t.line);
  }
  if (targets.length === 0) warnings.push(`${ctx.relativeFile(modules[0]!.file)}: no exported functions found; the manifest is empty`);
  const moduleFiles = Object.fromEntries(modules.map((m) => [m.id, relative(projectDir, m.file).split(sep).join('/')]));
  return { modules: moduleFiles, targets, defs: [...ctx.defs.values()] };
}
