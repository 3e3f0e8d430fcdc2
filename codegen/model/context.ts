/**
 * What every matcher gets: the checker, the table of named types, where we
 * are in the source (for messages), which way the value travels, and
 * `convert` to recurse.
 *
 * Everything a conversion records (definitions, notes, warnings) goes through
 * a journal, so a refused export — or a union member dropped from an
 * argument type — leaves nothing half-made behind: `attempt` rolls it back.
 */
import { ts } from '../ts.js';
import type { ts as TS } from 'ts-morph';
import { relative, sep } from 'node:path';
import { GenError, NeedsFullPass, type RefusalCode } from '../errors.js';
import type { NamedModel, TypeModel } from './types.js';

export interface Where {
  file: string;
  line: number;
  /** `parameter "input" of run`, `property "tags" of User`. */
  label: string;
  /** For notes and warnings, where the file:line already says which: `property "tags"`. */
  brief?: string;
  /** The type annotation as written there, if any (names an unresolved type). */
  written?: string;
  /** The annotation node: an `any` is the user's own only if it is spelled in it. */
  typeNode?: TS.TypeNode;
  /** A parameter, property or variable without a type annotation (or initializer): its `any` is implicit. */
  untyped?: boolean;
}

/** A definition's model while its structure is being converted (recursion refers to it by name meanwhile). */
export const PLACEHOLDER: TypeModel = Object.freeze({ kind: 'unknown' });

export interface Matcher {
  /** For debugging and docs: the kind this matcher produces. */
  kind: string;
  match(type: TS.Type, ctx: ModelContext): TypeModel | undefined;
}

/**
 * `in`: an argument or inbox item (the caller sends it); `out`: a result or
 * stream item. An argument type may be narrowed (a union member that cannot
 * cross the wire is dropped: the caller can send less, never more); a result
 * type never is.
 */
export type Direction = 'in' | 'out';

/** `fast`: no Node typings (a degraded answer makes the analysis start again); `full`: everything loaded. */
export type Pass = 'fast' | 'full';

export class ModelContext {
  readonly defs = new Map<string, NamedModel>();
  private readonly defNames: Record<Direction, Map<TS.Type, string>> = { in: new Map(), out: new Map() };
  /** Argument-side definitions that dropped a union member: not valid as result types. */
  private readonly narrowed = new Set<string>();
  /** Named definitions being converted right now, innermost last. */
  private readonly namedStack: string[] = [];
  /** Types converted since the last named type was entered: meeting one again is recursion without a name. */
  unnamedChain = new Set<TS.Type>();
  direction: Direction = 'in';
  readonly notes = new Set<string>();
  /** Locations, innermost last; errors name the innermost one. */
  private readonly whereStack: Where[] = [];
  private readonly journal: (() => void)[] = [];

  constructor(
    readonly checker: TS.TypeChecker,
    readonly program: TS.Program,
    readonly projectDir: string,
    readonly pass: Pass,
    readonly warnings: string[],
    private readonly dispatch: (type: TS.Type, ctx: ModelContext, skipNamed: boolean) => TypeModel,
  ) {}

  convert(type: TS.Type): TypeModel {
    return this.dispatch(type, this, false);
  }

  /** Converts the structure of a named type (the named matcher itself is skipped). */
  convertStructure(type: TS.Type): TypeModel {
    return this.dispatch(type, this, true);
  }

  /** Converts with `direction` set (parameters `in`, results `out`). */
  convertAs(direction: Direction, type: TS.Type, convert: (t: TS.Type) => TypeModel = (t) => this.convert(t)): TypeModel {
    const before = this.direction;
    this.direction = direction;
    try {
      return convert(type);
    } finally {
      this.direction = before;
    }
  }

  /** How TypeScript spells `type` (kept: the same type is often named again, semver's SemVer in every parameter). */
  typeText(type: TS.Type): string {
    let text = this.typeTexts.get(type);
    if (text === undefined) this.typeTexts.set(type, (text = this.checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope)));
    return text;
  }
  private readonly typeTexts = new Map<TS.Type, string>();

  // ---- transactions ----

  /** Runs `fn`; if it throws, everything it recorded is undone before the error propagates. */
  attempt<T>(fn: () => T): T {
    const mark = this.journal.length;
    try {
      return fn();
    } catch (err) {
      while (this.journal.length > mark) this.journal.pop()!();
      throw err;
    }
  }

  /** Forgets the undo log (after an export was accepted; nothing outside can roll back past it). */
  settle(): void {
    this.journal.length = 0;
  }

  private record(undo: () => void): void {
    this.journal.push(undo);
  }

  // ---- named definitions ----

  /** The definition already made for `type` that is valid in the current direction. */
  lookupDef(type: TS.Type): string | undefined {
    const own = this.defNames[this.direction].get(type);
    const other = own ?? this.defNames[this.direction === 'in' ? 'out' : 'in'].get(type);
    const name = own ?? (other !== undefined && (this.direction === 'in' || !this.narrowed.has(other)) ? other : undefined);
    if (name !== undefined && this.narrowed.has(name)) this.markNarrowed();
    return name;
  }

  /** Reserves a unique def name for `type` (a second, different `User` becomes `User_2`) before its structure is converted. */
  registerDef(type: TS.Type, base: string): string {
    let name = base;
    for (let i = 2; this.defs.has(name); i++) name = `${base}_${i}`;
    this.setDef(name, PLACEHOLDER);
    const names = this.defNames[this.direction];
    names.set(type, name);
    this.record(() => names.delete(type));
    return name;
  }

  setDef(name: string, model: TypeModel): void {
    const before = this.defs.get(name);
    this.defs.set(name, { name, model });
    this.record(() => (before ? this.defs.set(name, before) : this.defs.delete(name)));
  }

  /** Converts a named type's structure with `name` on the stack, so recursion through it terminates. */
  withinNamed<T>(name: string, fn: () => T): T {
    const chain = this.unnamedChain;
    this.unnamedChain = new Set();
    this.namedStack.push(name);
    try {
      return fn();
    } finally {
      this.namedStack.pop();
      this.unnamedChain = chain;
    }
  }

  /** An argument type lost a member: every definition being built around it is argument-only. */
  markNarrowed(): void {
    for (const name of this.namedStack) {
      if (this.narrowed.has(name)) continue;
      this.narrowed.add(name);
      this.record(() => this.narrowed.delete(name));
    }
  }

  // ---- locations and messages ----

  where(): Where | undefined {
    return this.whereStack[this.whereStack.length - 1];
  }

  /** Runs `fn` with `node` as the current location (only for nodes outside TypeScript's default library). */
  at<T>(node: TS.Node | undefined, label: string | (() => string), fn: () => T, brief?: string): T {
    if (!node || this.isDefaultLibrary(node.getSourceFile())) return fn();
    // A label spelling a type is made only if a message needs it: printing types is a good part of the checker's time.
    const where = this.locate(node, typeof label === 'string' ? label : '');
    if (typeof label === 'function') Object.defineProperty(where, 'label', { get: label, enumerable: true });
    if (brief) where.brief = brief;
    if (where.typeNode) this.requireResolved(where.typeNode);
    this.whereStack.push(where);
    try {
      return fn();
    } finally {
      this.whereStack.pop();
    }
  }

  locate(node: TS.Node, label: string): Where {
    const sf = node.getSourceFile();
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    const typeNode = (node as { type?: TS.Node }).type;
    const where: Where = { file: this.displayFile(sf.fileName), line, label };
    if (typeNode && ts.isTypeNode(typeNode)) Object.assign(where, { written: typeNode.getText(sf), typeNode });
    else if ((ts.isParameter(node) || ts.isPropertySignature(node) || ts.isPropertyDeclaration(node) || ts.isVariableDeclaration(node)) && !(node as { initializer?: TS.Node }).initializer) where.untyped = true;
    return where;
  }

  /** Relative to the project, `/`-separated, even outside it (`../plugins/...`): generated output must not depend on where the machine keeps things. */
  relativeFile(file: string): string {
    let rel = this.relativeFiles.get(file);
    if (rel === undefined) this.relativeFiles.set(file, (rel = relative(this.projectDir, file).split(sep).join('/')));
    return rel;
  }
  private readonly relativeFiles = new Map<string, string>();

  /** For messages and doc comments: like `relativeFile`, but a package's file reads `node_modules/<pkg>/…` wherever node_modules is. */
  displayFile(file: string): string {
    const rel = this.relativeFile(file);
    const i = rel.lastIndexOf('node_modules/');
    return rel.startsWith('../') && i >= 0 ? rel.slice(i) : rel;
  }

  /** Refuses the current type. `message` may be a function: it is made only if someone reads it. */
  fail(message: string | (() => string), code?: RefusalCode): never {
    const w = this.where();
    const text = () => {
      const m = typeof message === 'string' ? message : message();
      return w?.label ? `${w.label}: ${m}` : m;
    };
    throw new GenError(text, w?.file, w?.line, code);
  }

  warn(message: string): void {
    const w = this.where();
    const line = w ? `${w.file}:${w.line}: ${(w.brief ?? w.label) ? `${w.brief ?? w.label}: ` : ''}${message}` : message;
    if (this.warnings.includes(line)) return;
    this.warnings.push(line);
    this.record(() => this.warnings.pop());
  }

  /** Something left out of the wire type on purpose; listed under the summary. */
  note(message: string): void {
    const w = this.where();
    const line = w ? `${w.file}:${w.line}: ${(w.brief ?? w.label) ? `${w.brief ?? w.label}: ` : ''}${message}` : message;
    if (this.notes.has(line)) return;
    this.notes.add(line);
    this.record(() => this.notes.delete(line));
  }

  /**
   * The fast pass cannot be sure of this answer (`why`): start again with the
   * thorough pass. In the thorough pass it returns, and the caller decides.
   */
  unsure(why: string): void {
    if (this.pass === 'fast') throw new NeedsFullPass(why);
  }

  /**
   * Every name in a type annotation resolves. Without Node's typings a name
   * like `NodeJS.ReadableStream` in `keyof`, `extends` or a mapped type can
   * vanish without leaving an error type behind; the fast pass checks the
   * annotations it reads and hands over when one does not resolve.
   */
  requireResolved(node: TS.Node): void {
    if (this.pass !== 'fast') return;
    const visit = (n: TS.Node): void => {
      let name: TS.EntityName | TS.Expression | undefined;
      if (ts.isTypeReferenceNode(n)) name = n.typeName;
      else if (ts.isExpressionWithTypeArguments(n)) name = n.expression;
      else if (ts.isTypeQueryNode(n)) name = n.exprName;
      if (name && !this.checker.getSymbolAtLocation(name)) this.unsure(`"${name.getText()}" does not resolve`);
      if (ts.isImportTypeNode(n) && !this.checker.getTypeAtLocation(n).symbol && this.checker.getTypeAtLocation(n).flags & ts.TypeFlags.Any) this.unsure('an import type does not resolve');
      ts.forEachChild(n, visit);
    };
    visit(node);
  }

  isDefaultLibrary(sf: TS.SourceFile): boolean {
    return this.program.isSourceFileDefaultLibrary(sf) || /\/typescript\/lib\/lib\.[^/]*\.d\.ts$/.test(sf.fileName);
  }

  /** The declaration files of a symbol, for "is this the lib's Date?" questions. */
  declaredIn(symbol: TS.Symbol | undefined): TS.SourceFile[] {
    return (symbol?.declarations ?? []).map((d) => d.getSourceFile());
  }

  isFromDefaultLib(symbol: TS.Symbol | undefined): boolean {
    // `some`: @types/node and others augment lib interfaces (Uint8Array, Array).
    return this.declaredIn(symbol).some((f) => this.isDefaultLibrary(f));
  }
}
