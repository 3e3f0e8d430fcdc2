/**
 * The analysis of a whole project, in two passes that must agree.
 *
 * The fast pass loads neither Node's typings nor agentix's host side: they
 * cost about as much as everything else together. It hands over to the
 * thorough pass (everything loaded) the moment its answer could differ — an
 * unresolved type or name, an `any` nobody spelled, an export whose type does
 * not resolve (see `ModelContext.unsure`) — so the fast pass never changes
 * the result, it only gets there sooner. Modules that merely *use* Node in
 * their bodies (the bash and files plugins) stay on the fast pass.
 */
import { relative, sep } from 'node:path';
import { ts } from './ts.js';
import { analyzeModule, type ModuleResult } from './analyze.js';
import { assertModelSound } from './check.js';
import { APP_MODULE, type ProjectConfig } from './config.js';
import { GenError, NeedsFullPass, RefusedExportsError } from './errors.js';
import { convertType, ModelContext } from './model/index.js';
import type { Pass } from './model/context.js';
import type { ProgramModel } from './model/types.js';
import { createProgram, importsNodeBuiltin, SourceCache } from './program.js';

export interface Analysis {
  program: ProgramModel;
  warnings: string[];
  /** Which pass gave the answer (for the bench and tests). */
  pass: Pass;
  /** Why the fast pass handed over, when it did. */
  fullPassReason?: string;
}

export function analyzeProject(config: ProjectConfig): Analysis {
  const cache = new SourceCache();
  try {
    return analyze(config, 'fast', cache);
  } catch (err) {
    if (!(err instanceof NeedsFullPass)) throw err;
    return { ...analyze(config, 'full', cache), fullPassReason: err.message };
  }
}

const RESERVED = new Set(['$with']);
const ctxFile = (projectDir: string, file: string) => relative(projectDir, file).split(sep).join('/');

function analyze(config: ProjectConfig, pass: Pass, cache: SourceCache): Analysis {
  const { projectDir, modules } = config;
  const warnings: string[] = [];
  // A package typed through Node's typings (pathe: `basename: typeof path.basename`) needs the thorough pass:
  // hand over as soon as its declaration file is read; what was parsed so far is reused.
  cache.onDeclarationFile = pass === 'fast' ? (sf) => {
    if (importsNodeBuiltin(sf)) throw new NeedsFullPass(`${ctxFile(projectDir, sf.fileName)} imports a Node built-in`);
  } : undefined;
  const program = createProgram({ projectDir, files: modules.map((m) => m.file), full: pass === 'full', cache });
  const ctx = new ModelContext(program.getTypeChecker(), program, projectDir, pass, warnings, convertType);
  const result: ModuleResult = { targets: [], refusals: [], excluded: [] };
  const exclude = new Set(config.exclude);
  for (const m of modules) {
    const sf = program.getSourceFile(m.file);
    if (!sf) throw new GenError(`${m.origin}: cannot read ${m.file}`);
    // Syntax errors first: the checker's guesses about a broken file would only confuse.
    const syntax = program.getSyntacticDiagnostics(sf)[0];
    if (syntax) {
      const line = syntax.start === undefined ? undefined : sf.getLineAndCharacterOfPosition(syntax.start).line + 1;
      throw new GenError(`syntax error: ${ts.flattenDiagnosticMessageText(syntax.messageText, '\n')}`, ctx.relativeFile(m.file), line);
    }
    analyzeModule(sf, m.id, ctx, exclude, result);
  }
  const namespaces = new Set(modules.filter((m) => m.id !== APP_MODULE).map((m) => m.id));
  for (const t of result.targets) {
    if (t.module !== APP_MODULE) continue;
    const clash = RESERVED.has(t.name) ? `is reserved in the generated client (remote.$with); rename it`
      : namespaces.has(t.name) ? `clashes with the plugin namespace "${t.name}" (remote.${t.name}); rename it` : undefined;
    if (clash) result.refusals.push({ export: t.name, site: { file: t.file, line: t.line }, error: new GenError(`the name ${clash}`, t.file, t.line) });
  }
  if (result.refusals.length > 0) throw new RefusedExportsError(result.refusals);
  for (const name of config.exclude) {
    if (!result.excluded.includes(name)) warnings.push(`package.json: "agentix.exclude" lists "${name}", which no module exports`);
  }
  if (result.targets.length === 0) warnings.push(`${ctx.relativeFile(modules[0]!.file)}: no exported functions found; the manifest is empty`);
  const notes = [...ctx.notes].sort();
  if (result.excluded.length > 0) notes.unshift(`excluded by package.json "agentix.exclude": ${[...result.excluded].sort().join(', ')}`);
  const moduleFiles = Object.fromEntries(modules.map((m) => [m.id, relative(projectDir, m.file).split(sep).join('/')]));
  const targets = result.targets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const model: ProgramModel = { modules: moduleFiles, targets, defs: [...ctx.defs.values()], notes };
  assertModelSound(model);
  return { program: model, warnings, pass };
}
