/**
 * The friendly table `agentix gen` prints: target, shape, parameters,
 * result — one row per overload — and under it the notes: what was left out
 * of the wire types on purpose, and the excluded exports.
 */
import type { TargetModel } from './model/types.js';
import { typeText } from './emit/stubs.js';

export function summaryTable(targets: TargetModel[], notes: string[] = []): string {
  const out: string[] = [];
  if (targets.length === 0) out.push('(no exported functions found)');
  else {
    const rows = [['target', 'shape', 'parameters', 'returns']];
    for (const t of targets) {
      for (const s of t.signatures) {
        const params = s.params.map((p) => `${p.rest ? '...' : ''}${p.name}${p.optional ? '?' : ''}: ${typeText(p.type)}${p.rest ? '[]' : ''}`);
        if (t.inbox) params.splice(t.inboxIndex ?? 0, 0, `inbox: Channel<${typeText(t.inbox)}>`);
        rows.push([t.name, t.shape, `(${params.join(', ')})`, typeText(s.returns)]);
      }
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    out.push(...rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')));
  }
  if (notes.length > 0) out.push('', `notes (${notes.length}):`, ...notes.map((n) => `  ${n}`));
  return out.join('\n');
}
