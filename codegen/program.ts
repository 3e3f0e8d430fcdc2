/**
 * The TypeScript program the compiler analyses. Settings are fixed, not read
 * from the user's tsconfig: `lib: ES2022` and no ambient `@types` so the DOM
 * and Node's typings are not loaded unless needed (they double cold start);
 * Node's types are added only by the thorough pass (see passes.ts).
 *
 * A plain `ts.createProgram` over the real file system, with two things of
 * our own: the default library comes from the TypeScript that ts-morph
 * bundles (it is not on disk), and parsed files are kept in a `SourceCache`
 * so the thorough pass re-reads only what it adds (Node's typings), not the
 * hundreds of declaration files a package like date-fns brings.
 *
 * Each file's module format is taken from its package.json (`"type":
 * "module"`), as Node and tsc do: an ESM project resolves a package's
 * `import` conditions, not its `require` ones.
 */
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { getLibFiles, ts } from './ts.js';
import type { ts as TS } from 'ts-morph';
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
  /** Parsed files shared between the passes of one run. */
  cache?: SourceCache;
}

/** Where the bundled default library appears to live (a virtual folder). */
const LIB_DIR = '/node_modules/typescript/lib';
let libTexts: Map<string, string> | undefined;
const libText = (file: string) => (libTexts ??= new Map(getLibFiles().map((f) => [`${LIB_DIR}/${f.fileName}`, f.text]))).get(file);

/**
 * Parsed source files shared by the passes of one run (by name and parse
 * settings; both passes parse alike). Files are parsed without their JSDoc:
 * types never come from it in TypeScript files, and most of Node's typings is
 * documentation. `docComment` reads a target's documentation from the text.
 */
export class SourceCache {
  private readonly files = new Map<string, TS.SourceFile>();
  /** Set by the fast pass: called with each declaration file as it is parsed. */
  onDeclarationFile?: (sf: TS.SourceFile) => void;
  private readonly answers = new Map<string, Map<string, unknown>>();

  /** `fn` with its answers kept per argument (file system questions: stable for the run). */
  memo<T>(kind: string, fn: (arg: string) => T): (arg: string) => T {
    let table = this.answers.get(kind) as Map<string, T> | undefined;
    if (!table) this.answers.set(kind, (table = new Map()));
    const t = table;
    return (arg) => {
      if (t.has(arg)) return t.get(arg)!;
      const v = fn(arg);
      t.set(arg, v);
      return v;
    };
  }

  get(fileName: string, settings: TS.ScriptTarget | TS.CreateSourceFileOptions, read: () => string | undefined): TS.SourceFile | undefined {
    const key = `${fileName}\0${typeof settings === 'object' ? `${settings.languageVersion}/${settings.impliedNodeFormat}` : settings}`;
    let sf = this.files.get(key);
    if (!sf) {
      const text = read();
      if (text === undefined) return undefined;
      const o: TS.CreateSourceFileOptions = typeof settings === 'object' ? { ...settings } : { languageVersion: settings };
      sf = ts.createSourceFile(fileName, text, { ...o, jsDocParsingMode: ts.JSDocParsingMode.ParseNone }, true);
      this.files.set(key, sf);
    }
    if (sf.isDeclarationFile && !sf.fileName.startsWith(LIB_DIR + '/')) this.onDeclarationFile?.(sf);
    return sf;
  }
}

/**
 * The main text of a declaration's JSDoc comment (without its tags), as a
 * stub's doc comment shows it: read from the comment before the declaration
 * (the statement, for a variable).
 */
export function docComment(node: TS.Node): string | undefined {
  const sf = node.getSourceFile();
  const at = ts.isVariableDeclaration(node) && ts.isVariableDeclarationList(node.parent) ? node.parent.parent : node;
  const comment = (ts.getLeadingCommentRanges(sf.text, at.pos) ?? []).filter((r) => sf.text.startsWith('/**', r.pos) && r.end - r.pos > 4).pop();
  if (!comment) return undefined;
  const lines = sf.text.slice(comment.pos + 3, comment.end - 2).split('\n').map((l) => l.replace(/^\s*\*? ?/, '').trimEnd());
  const tag = lines.findIndex((l) => l.startsWith('@'));
  const text = (tag >= 0 ? lines.slice(0, tag) : lines).join('\n').trim();
  return text || undefined;
}

/** A top-level import or re-export of a Node built-in (`node:path`, `fs`) in a declaration file. */
export function importsNodeBuiltin(sf: TS.SourceFile): boolean {
  for (const st of sf.statements) {
    const spec = ts.isImportDeclaration(st) || ts.isExportDeclaration(st) ? st.moduleSpecifier
      : ts.isImportEqualsDeclaration(st) && ts.isExternalModuleReference(st.moduleReference) ? st.moduleReference.expression : undefined;
    if (spec && ts.isStringLiteral(spec) && isNodeBuiltin(spec.text)) return true;
  }
  return false;
}

let builtins: Set<string> | undefined;
const isNodeBuiltin = (name: string) => name.startsWith('node:') || (builtins ??= new Set(builtinModules)).has(name);

export function createProgram(opts: ProgramOptions): TS.Program {
  const options: TS.CompilerOptions = {
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
  Object.assign(options, projectPaths(opts.projectDir));
  if (opts.full) {
    const typeRoots = typeRootsWithNode(opts.projectDir);
    if (typeRoots.length > 0) Object.assign(options, { types: ['node'], typeRoots });
  }
  // Project code imports the sandbox-side API from 'agentix' (Channel, currentSignal). Resolved the usual way
  // it would load the whole package's typings (client, ws, dockerode) and double the cold start, so the quick
  // mode maps it to that small API; the thorough mode uses the project's own resolution, or this package's
  // sources inside this repository, where it would resolve to an unbuilt dist/.
  const root = agentixRoot();
  const view = join(root, 'runtime', 'sandbox-api.ts');
  const probe = ts.resolveModuleName('agentix', opts.files[0]!, options, ts.sys, undefined, undefined, ts.ModuleKind.ESNext);
  const resolves = !!probe.resolvedModule && existsSync(probe.resolvedModule.resolvedFileName);
  const index = join(root, 'index.ts');
  const target = !opts.full && existsSync(view) ? view : resolves ? undefined : existsSync(index) ? index : view;
  if (target) {
    options.paths = { ...options.paths, agentix: [target] };
    options.baseUrl ??= opts.projectDir;
  }
  const host = ts.createCompilerHost(options, true);
  const cache = opts.cache ?? new SourceCache();
  host.getDefaultLibLocation = () => LIB_DIR;
  host.getDefaultLibFileName = (o) => `${LIB_DIR}/${ts.getDefaultLibFileName(o)}`;
  // The file system does not change during a run: both passes ask the same questions (module resolution
  // stats and reads package.json files by the thousand), so the answers are kept.
  const fileExists = cache.memo('exists', host.fileExists.bind(host));
  const directoryExists = cache.memo('dir', (d: string) => ts.sys.directoryExists(d));
  const readFile = cache.memo('read', host.readFile.bind(host));
  const realpath = cache.memo('real', (f: string) => ts.sys.realpath?.(f) ?? f);
  host.fileExists = (f) => (f.startsWith(LIB_DIR + '/') ? libText(f) !== undefined : fileExists(f));
  host.directoryExists = (d) => d === LIB_DIR || d.startsWith(LIB_DIR + '/') || directoryExists(d);
  host.readFile = (f) => (f.startsWith(LIB_DIR + '/') ? libText(f) : readFile(f));
  host.realpath = (f) => (f.startsWith(LIB_DIR + '/') ? f : realpath(f));
  host.getSourceFile = (fileName, settings) => cache.get(fileName, settings, () => host.readFile(fileName));
  return ts.createProgram({ rootNames: opts.files, options, host });
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
function projectPaths(projectDir: string): Pick<TS.CompilerOptions, 'paths' | 'baseUrl'> {
  const file = join(projectDir, 'tsconfig.json');
  if (!existsSync(file)) return {};
  const { config } = ts.readConfigFile(file, ts.sys.readFile);
  const co = config?.compilerOptions as { paths?: Record<string, string[]>; baseUrl?: string } | undefined;
  if (!co?.paths) return {};
  return { paths: co.paths, baseUrl: resolve(projectDir, co.baseUrl ?? '.') };
}
