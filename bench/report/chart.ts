/**
 * bench/results/chart.svg: horizontal bar charts of the unary (both
 * placements when the run has two), CPU per call and stream figures, hand-written SVG (no dependencies) that any browser shows.
 */
import { round } from '../lib/stats.js';
import { otherPlacementNumbers, streamPerSec, unaryNumbers } from './sections.js';
import type { BenchResults } from './types.js';

interface Panel { title: string; unit: string; bars: { label: string; value: number; highlight: boolean }[] }

const COLORS = { bar: '#8aa4c8', highlight: '#d9822b', text: '#222', grid: '#ddd' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderChart(r: BenchResults): string {
  const bar = (label: string, name: string, value: number | undefined) =>
    value === undefined || !Number.isFinite(value) ? [] : [{ label, value, highlight: name === 'agentix' }];
  const panels: Panel[] = [
    { title: 'Unary p50 round trip (µs, lower is better)', unit: 'µs', bars: r.transport.flatMap((s) => bar(s.label, s.name, unaryNumbers(s).p50Us)) },
    { title: `Unary calls/s, ${r.plan.inflight} in flight${r.machine.otherPlacement ? `, ${r.machine.placement.name}` : ''} (higher is better)`, unit: '/s', bars: r.transport.flatMap((s) => bar(s.label, s.name, unaryNumbers(s).perSec)) },
    ...(r.machine.otherPlacement
      ? [{ title: `Unary calls/s, ${r.plan.inflight} in flight, ${r.machine.otherPlacement.name} (higher is better)`, unit: '/s', bars: r.transport.flatMap((s) => bar(s.label, s.name, otherPlacementNumbers(s).perSec)) }]
      : []),
    { title: `Server-side CPU per call, ${r.plan.inflight} in flight (µs, lower is better)`, unit: 'µs', bars: r.transport.flatMap((s) => bar(s.label, s.name, unaryNumbers(s).serverCpuUs)) },
    { title: 'Stream items/s, count(n) (higher is better)', unit: '/s', bars: r.transport.flatMap((s) => bar(s.label, s.name, streamPerSec(s))) },
  ].filter((p) => p.bars.length > 0);

  const width = 900, labelW = 330, barMax = 450, rowH = 24, titleH = 34, gap = 22;
  let y = 40;
  const parts: string[] = [];
  parts.push(`<text x="16" y="24" font-size="16" font-weight="bold" fill="${COLORS.text}">Agentix vs peers — ${esc(r.date.slice(0, 10))}, ${esc(r.machine.cpuModel)} × ${r.machine.cores}, ${esc(r.machine.placement.name)}, node ${esc(r.machine.node)}</text>`);
  for (const p of panels) {
    parts.push(`<text x="16" y="${y + 20}" font-size="14" font-weight="bold" fill="${COLORS.text}">${esc(p.title)}</text>`);
    y += titleH;
    const max = Math.max(...p.bars.map((b) => b.value));
    for (const b of p.bars) {
      const w = Math.max(1, (b.value / max) * barMax);
      parts.push(
        `<text x="${labelW - 8}" y="${y + 16}" font-size="12" text-anchor="end" fill="${COLORS.text}">${esc(b.label)}</text>`,
        `<rect x="${labelW}" y="${y + 3}" width="${round(w, 4)}" height="${rowH - 6}" fill="${b.highlight ? COLORS.highlight : COLORS.bar}"/>`,
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 16}" font-size="12" fill="${COLORS.text}">${round(b.value).toLocaleString('en-US')} ${esc(p.unit)}</text>`,
      );
      y += rowH;
    }
    y += gap;
  }
  if (panels.length === 0) {
    parts.push(`<text x="16" y="${y + 20}" font-size="14" fill="${COLORS.text}">No transport figures in this run.</text>`);
    y += 40;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
