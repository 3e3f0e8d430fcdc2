/** The plain-text tables `npm run bench` prints to stdout. */
import { sections } from './sections.js';
import type { BenchResults } from './types.js';

export function renderTable(r: BenchResults): string {
  const m = r.machine;
  const lines = [`\nAgentix bench — ${r.date.slice(0, 19)}Z, ${r.mode} mode, ${m.cpuModel} × ${m.cores}, node ${m.node}, placement ${describePlacement(r)}`, `${describeLoad(r)}\n`];
  for (const s of sections(r)) {
    lines.push(`== ${s.title}${s.note ? ` (${s.note})` : ''}`);
    const rows = [s.headers, ...s.rows];
    const widths = s.headers.map((_, i) => Math.min(60, Math.max(...rows.map((row) => (row[i] ?? '').length))));
    for (const row of rows) lines.push(row.map((c, i) => (i === 0 || s.textColumns?.includes(i) ? (c ?? '').padEnd(widths[i]) : (c ?? '').padStart(widths[i]))).join('  ').trimEnd());
    lines.push('');
  }
  return lines.join('\n') + '\n';
}

export function describePlacement(r: BenchResults): string {
  const p = r.machine.placement;
  if (p.name === 'unpinned') return `unpinned${p.note ? ` (${p.note})` : ''}`;
  const o = r.machine.otherPlacement;
  const also = o ? `; unary measured ${o.name} too (client CPU ${o.clientCpu}, same servers)` : '';
  return `${p.name} (server CPU ${p.serverCpu}, client CPU ${p.clientCpu})${also}${p.note ? ` — ${p.note}` : ''}`;
}

/** Other work on the machine skews every figure; say how busy it was. */
export function describeLoad(r: BenchResults): string {
  const { start, afterTransport } = r.machine.loadAvg;
  // Judged on the load before the run: afterwards it includes the bench's own server and client.
  const busy = start > r.machine.cores * 0.5;
  const after = afterTransport === undefined ? '' : `, ${afterTransport} after the transport scenarios (the bench's own two processes count about 2)`;
  return `load average ${start} before the run${after}${busy ? ' — the machine was busy with other work: treat the figures as rough' : ''}`;
}
