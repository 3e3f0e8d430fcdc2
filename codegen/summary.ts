/** The friendly table `agentix gen` prints: target, shape, parameters, result. */
import type { TargetModel } from './model/types.js';
import { typeText } from './emit/stubs.js';

export function summaryTable(targets: TargetModel[]): string {
  if (targets.length === 0) return '(no exported functions found)';
  const rows = [['target', 'shape', 'parameters', 'returns']];
  for (const t of targets) {
    const params = t.params.map((p) => `${p.rest ? '...' : ''}${p.name}${p.optional ? '?' : ''}: ${typeText(p.type)}${p.rest ? '[]' : ''}`);
    if (t.inbox) params.splice(t.inboxIndex ?? 0, 0, `inbox: Channel<${typeText(t.inbox)}>`);
    rows.push([t.name, t.shape, `(${params.join(', ')})`, typeText(t.returns)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
