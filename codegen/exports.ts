/**
 * A module's exports as the checker sees them, each with the place in the
 * module that exports it (the declaration, the `export { … }` specifier, or
 * the `export * from` line), so a refusal can name the line the user wrote.
 */
import { ts } from './ts.js';
import type { ts as TS } from 'ts-morph';

export interface ModuleExport {
  /** Export name (`default` for a default export). */
  name: string;
  /** The export's own symbol (an alias for re-exports). */
  symbol: TS.Symbol;
  /** What it stands for (aliases followed); no declarations when it does not resolve. */
  target: TS.Symbol;
  /** The 1-based line of the module that exports it. */
  line: number;
}

export function moduleExports(sf: TS.SourceFile, checker: TS.TypeChecker): ModuleExport[] {
  const moduleSymbol = checker.getSymbolAtLocation(sf);
  if (!moduleSymbol) return [];
  const starLines = new Map<string, number>();
  const lineOf = (node: TS.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const starSources = sf.statements.filter((s): s is TS.ExportDeclaration => ts.isExportDeclaration(s) && !s.exportClause && !!s.moduleSpecifier && !s.isTypeOnly);
  const starLine = (name: string): number => {
    if (starLines.size === 0) {
      // Later `export *` lines do not override earlier ones (the first wins, as for the checker).
      for (const decl of starSources) {
        const target = checker.getSymbolAtLocation(decl.moduleSpecifier!);
        if (!target) continue;
        for (const s of checker.getExportsOfModule(target)) if (!starLines.has(s.name)) starLines.set(s.name, lineOf(decl));
      }
    }
    return starLines.get(name) ?? 1;
  };
  return checker.getExportsOfModule(moduleSymbol).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const own = symbol.declarations?.find((d) => d.getSourceFile() === sf);
    return { name: symbol.name, symbol, target, line: own ? lineOf(own) : starLine(symbol.name) };
  });
}
