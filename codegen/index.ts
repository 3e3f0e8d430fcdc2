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
import { loadConfig } from './config.js';
import { buildManifest, manifestFile } from './emit/manifest.js';
import { schemasFile } from './emit/schemas.js';
import { clientFile } from './emit/stubs.js';
import type { Pass } from './model/context.js';
import type { TargetModel } from './model/types.js';
import { analyzeProject } from './passes.js';
import { staleReasons } from './stale.js';
import { summaryTable } from './summary.js';

export { GenError, RefusedExportsError, type Refusal } from './errors.js';
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
  /** What was left out of the wire types on purpose (optional callbacks, symbol keys, overloads taking functions, excluded exports). */
  notes: string[];
  /** The friendly table the CLI prints, with the notes under it. */
  summary: string;
  /** `fast` unless something needed Node's typings (see passes.ts). */
  pass: Pass;
  /** Why the thorough pass ran: the first thing the fast pass could not be sure of. */
  fullPassReason?: string;
}

export const DEFAULT_OUT_DIR = 'agentix-gen';

export async function generate(opts: GenOptions): Promise<GenResult> {
  const warnings: string[] = [];
  const config = loadConfig(opts.projectDir, warnings);
  const projectDir = config.projectDir;
  const outDir = resolve(projectDir, opts.outDir ?? DEFAULT_OUT_DIR);
  const analysis = analyzeProject(config);
  warnings.push(...analysis.warnings);
  const program = analysis.program;
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
  const targets = [...program.targets];
  return { manifest, outDir, files, stale, warnings, targets, notes: program.notes, summary: summaryTable(targets, program.notes), pass: analysis.pass, ...(analysis.fullPassReason ? { fullPassReason: analysis.fullPassReason } : {}) };
}


