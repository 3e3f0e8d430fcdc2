/**
 * What every matcher gets: the checker, the table of named types, where we
 * are in the user's source (for error messages) and `convert` to recurse.
 */
import { ts } from 'ts-morph';
import { relative, sep } from 'node:path';
import { GenError } from '../errors.js';
import type { NamedModel, TypeModel } from './types.js';

export interface Where {
  file: string;
  line: number;
  /** `parameter "input" of run`, `property "tags" of User`. */
  label: string;
  /** The type annotation as written there, if any (names an unresolved type). */
  written?: string;
}

export interface Matcher {
  /** For debugging and docs: the kind this matcher produces. */
  kind: string;
  match(type: ts.Type, ctx: ModelContext): TypeModel | undefined;
}

export class ModelContext {
  readonly defs = new Map<string, NamedModel>();
  readonly defByType = new Map<ts.Type, string>();
  /** Locations, innermost last; errors name the innermost one. */
  private readonly whereStack: Where[] = [];

  constructor(
    readonly checker: ts.TypeChecker,
    readonly program: ts.Program,
    readonly projectDir: string,
    readonly warnings: string[],
    private readonly dispatch: (type: ts.Type, ctx: ModelContext, skipNamed: boolean) => TypeModel,
  ) {}

  convert(type: ts.Type): TypeModel {
    return this.dispatch(type, this, false);
  }

  /** Converts the structure of a named type (the named matcher itself is skipped). */
  convertStructure(type: ts.Type): TypeModel {
    return this.dispatch(type, this, true);
  }

  typeText(type: ts.Type): string {
    return this.checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope);
  }

  where(): Where | undefined {
    return this.whereStack[this.whereStack.length - 1];
  }

  /** Runs `fn` with `node` as the current location (only for nodes in the user's code, not in libraries). */
  at<T>(node: ts.Node | undefined, label: string, fn: () => T): T {
    if (!node || this.isDefaultLibrary(node.getSourceFile())) return fn();
    this.whereStack.push(this.locate(node, label));
    try {
      return fn();
    } finally {
      this.whereStack.pop();
    }
  }

  locate(node: ts.Node, label: string): Where {
    const sf = node.getSourceFile();
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    const typeNode = (node as { type?: ts.Node }).type;
    const written = typeNode && ts.isTypeNode(typeNode) ? typeNode.getText(sf) : undefined;
    return { file: this.relativeFile(sf.fileName), line, label, ...(written ? { written } : {}) };
  }

  /** Relative to the project, `/`-separated, even outside it (`../plugins/...`): generated output must not depend on where the machine keeps things. */
  relativeFile(file: string): string {
    return relative(this.projectDir, file).split(sep).join('/');
  }

  fail(message: string, code?: 'unresolved'): never {
    const w = this.where();
    throw new GenError(w ? `${w.label}: ${message}` : message, w?.file, w?.line, code);
  }

  warn(message: string): void {
    const w = this.where();
    this.warnings.push(w ? `${w.file}:${w.line}: ${w.label}: ${message}` : message);
  }

  isDefaultLibrary(sf: ts.SourceFile): boolean {
    return this.program.isSourceFileDefaultLibrary(sf) || /\/typescript\/lib\/lib\.[^/]*\.d\.ts$/.test(sf.fileName);
  }

  /** The declaration files of a symbol, for "is this the lib's Date?" questions. */
  declaredIn(symbol: ts.Symbol | undefined): ts.SourceFile[] {
    return (symbol?.declarations ?? []).map((d) => d.getSourceFile());
  }

  isFromDefaultLib(symbol: ts.Symbol | undefined): boolean {
    // `some`: @types/node and others augment lib interfaces (Uint8Array, Array).
    return this.declaredIn(symbol).some((f) => this.isDefaultLibrary(f));
  }

  /** Reserves a unique def name (a second, different `User` becomes `User_2`). */
  reserveName(base: string): string {
    let name = base;
    for (let i = 2; this.defs.has(name); i++) name = `${base}_${i}`;
    this.defs.set(name, { name, model: { kind: 'unknown' } });
    return name;
  }
}
