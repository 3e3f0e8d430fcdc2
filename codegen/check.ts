/**
 * The last look at a program model before anything is emitted. What it
 * finds is a bug in the compiler, not in the user's code: an `any` that no
 * declaration spelled (the checker's stand-in for something unresolved), a
 * reference to a definition that does not exist (a refused export's
 * leftovers), a definition still holding its placeholder.
 */
import { PLACEHOLDER } from './model/context.js';
import type { ProgramModel, TypeModel } from './model/types.js';

export class CompilerBug extends Error {
  override name = 'CompilerBug';
}

export function assertModelSound(program: ProgramModel): void {
  const problems: string[] = [];
  const defs = new Map(program.defs.map((d) => [d.name, d.model]));
  const visit = (m: TypeModel, where: string): void => {
    switch (m.kind) {
      case 'any':
        if (!m.declared) problems.push(`${where}: an any no declaration wrote`);
        return;
      case 'ref':
        if (!defs.has(m.name)) problems.push(`${where}: reference to the missing definition ${m.name}`);
        return;
      case 'array': return visit(m.items, where);
      case 'tuple': return m.elements.forEach((e) => visit(e.type, where));
      case 'object':
        m.properties.forEach((p) => visit(p.type, `${where}.${p.name}`));
        if (m.index) visit(m.index, `${where}[key]`);
        return;
      case 'union': case 'intersection': return m.members.forEach((x) => visit(x, where));
      case 'template': return m.parts.forEach((p) => typeof p !== 'string' && visit(p, where));
      default: return;
    }
  };
  for (const t of program.targets) {
    t.signatures.forEach((s, i) => {
      const at = `target ${t.name}${t.signatures.length > 1 ? ` (overload ${i + 1})` : ''}`;
      s.params.forEach((p) => visit(p.type, `${at} parameter ${p.name}`));
      visit(s.returns, `${at} result`);
    });
    if (t.inbox) visit(t.inbox, `target ${t.name} inbox`);
  }
  for (const d of program.defs) {
    // The placeholder stands in only while a definition's structure is being converted.
    if (d.model === PLACEHOLDER) problems.push(`definition ${d.name}: never filled in`);
    visit(d.model, `definition ${d.name}`);
  }
  if (problems.length > 0) throw new CompilerBug(`agentix gen: internal error (please report it): the type model is unsound:\n  ${problems.join('\n  ')}`);
}
