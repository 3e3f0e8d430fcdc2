/**
 * The project README's benchmark tables, generated from one run's results
 * (the same figures as bench/RESULTS.md, whose Summary is the first table).
 *
 *   npm run bench -- --render=bench/results/<date>.json --readme
 *
 * replaces what lies between the two marker lines below in README.md; a
 * README without them is left alone and the tables are printed instead.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { round } from '../lib/stats.js';
import { fmt, pct, ratio } from './format.js';
import { dockerFloorNumbers, otherPlacementNumbers, streamPerSec, unaryNumbers } from './sections.js';
import { isFailed, isSkipped, type BenchResults, type GenTimes, type SystemFigures } from './types.js';

export const README_BEGIN = '<!-- bench-tables:begin (generated: npm run bench -- --render=bench/results/<date>.json --readme) -->';
export const README_END = '<!-- bench-tables:end -->';

const rel = (v: number | undefined, base: number | undefined, asPct: boolean) =>
  v === undefined || base === undefined || !Number.isFinite(v) || !base ? '' : asPct ? ` (${pct(v, base)})` : ` (${ratio(v, base)})`;
const label = (s: SystemFigures) => (s.name === 'agentix' ? s.label.replace(/^Agentix/, '**Agentix**') : s.label);
const bidiP50 = (s: SystemFigures | undefined) => (s?.bidi && !isFailed(s.bidi) ? s.bidi.p50Us : undefined);

/** Per system: unary p50, calls/s @64 in each placement, server-side CPU per call, stream items/s, bidi p50; ratios to the floor. */
export function readmeTable(r: BenchResults): string {
  const floor = r.transport.find((s) => s.name === 'raw-ws');
  const f = floor ? unaryNumbers(floor) : {};
  const fo = floor ? otherPlacementNumbers(floor) : {};
  const fs = floor ? streamPerSec(floor) : undefined;
  const fb = bidiP50(floor);
  const main = r.machine.placement.name;
  const other = r.machine.otherPlacement?.name;
  const rows = r.transport.map((s) => {
    const u = unaryNumbers(s);
    const o = otherPlacementNumbers(s);
    const isFloor = s.name === 'raw-ws';
    const cell = (v: number | undefined, base: number | undefined, asPct: boolean) => `${fmt(v)}${isFloor ? '' : rel(v, base, asPct)}`;
    return [
      label(s),
      cell(u.p50Us, f.p50Us, false),
      cell(u.perSec, f.perSec, true),
      ...(other ? [cell(o.perSec, fo.perSec, true)] : []),
      fmt(u.serverCpuUs),
      cell(streamPerSec(s), fs, true),
      cell(bidiP50(s), fb, false),
    ];
  });
  const headers = ['system', 'unary p50 µs', `calls/s, ${r.plan.inflight} in flight${other ? `, ${main}` : ''}`, ...(other ? [`calls/s, ${r.plan.inflight} in flight, ${other}`] : []),
    `server CPU µs/call @${r.plan.inflight}`, 'stream items/s', 'bidi echo p50 µs'];
  return table(headers, rows);
}

/** Agentix beside the floor for what the first table leaves out: payloads, Docker sandboxes against `docker run`, tooling. */
export function readmeAlsoTable(r: BenchResults): string {
  const ax = r.transport.find((s) => s.name === 'agentix');
  const floor = r.transport.find((s) => s.name === 'raw-ws');
  const mbps = (s: SystemFigures | undefined, bytes: number) => (s?.payload && !isFailed(s.payload) ? s.payload.find((p) => p.bytes === bytes)?.mbPerSec : undefined);
  const rows: string[][] = [];
  for (const bytes of r.plan.payloadSizes) {
    const size = bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 1024} KiB`;
    const a = mbps(ax, bytes);
    const fl = mbps(floor, bytes);
    if (a !== undefined || fl !== undefined) rows.push([`${size} \`Uint8Array\` echo`, `${fmt(a)} MB/s${rel(a, fl, true)}`, `${fmt(fl)} MB/s`]);
  }
  const d = dockerFloorNumbers(r);
  const docker = r.sandbox.docker;
  if (docker && !isFailed(docker) && !isSkipped(docker)) {
    const first = docker.firstCall && !isFailed(docker.firstCall) ? docker.firstCall : undefined;
    const wave = docker.parallel && !isFailed(docker.parallel) ? docker.parallel : undefined;
    const secs = (ms: number | undefined) => (ms === undefined ? '–' : `${fmt(round(ms / 1000, 2))} s`);
    rows.push([`Docker sandbox create → first call answered, p50 / p90 of ${first?.n ?? r.plan.sandboxes} (floor: \`docker run --rm\` of the same task image, p50)`,
      first ? `${fmt(first.p50Ms)} / ${fmt(first.p90Ms)} ms${rel(first.p50Ms, d?.floorP50, false)}` : '–', d?.floorP50 !== undefined ? `${fmt(d.floorP50)} ms` : '–']);
    rows.push([`${wave?.n ?? r.plan.sandboxParallel} Docker sandboxes created at once, until all answered (floor: as many parallel \`docker run\`)`,
      `${secs(wave?.wallMs)}${rel(wave?.wallMs, d?.floorWaveMs, false)}`, secs(d?.floorWaveMs)]);
  }
  const t = r.tooling;
  const ok = <T>(v: T | { error: string } | { skipped: string } | undefined): T | undefined => (v === undefined || isFailed(v) || isSkipped(v) ? undefined : v);
  const s = (ms: number | undefined) => (ms === undefined ? '–' : `${fmt(round(ms / 1000, 2))} s`);
  const [gb, gl, gc] = [ok<GenTimes>(t.genBench), ok<GenTimes & { functions: number }>(t.genLarge), ok<GenTimes & { functions: number; packages: number }>(t.genCorpus)];
  if (gb || gl || gc) {
    rows.push([`\`agentix gen\` cold (4 functions / ${gl?.functions ?? r.plan.genFunctions} functions / ${gc ? `${gc.functions} functions re-exported from ${gc.packages} npm packages` : 'the corpus'})`,
      `${s(gb?.coldMs)} / ${s(gl?.coldMs)} / ${s(gc?.coldMs)}${gc?.peakRssMiB !== undefined ? ` (${fmt(gc.peakRssMiB)} MiB peak)` : ''}`, '']);
  }
  const bc = ok<{ ms: number }>(t.buildCold);
  const bw = ok<{ ms: number }>(t.buildWarm);
  const img = ok<number>(t.imageBytes);
  if (bc || bw || img !== undefined) rows.push(['`agentix build` cold / after a one-line change; image size', `${s(bc?.ms)} / ${s(bw?.ms)}; ${img === undefined ? '–' : `${fmt(img / 2 ** 20)} MiB`}`, '']);
  return table(['also measured', 'Agentix', 'floor'], rows);
}

/** Both tables, as they stand between the README's markers. */
export function readmeBlock(r: BenchResults): string {
  return `${readmeTable(r)}\n\n${readmeAlsoTable(r)}`;
}

/**
 * Replaces the block between the markers in `readmePath` with this run's
 * tables. Returns false (and writes nothing) when the README lacks either marker.
 */
export function spliceReadme(readmePath: string, r: BenchResults): boolean {
  const text = readFileSync(readmePath, 'utf8');
  const begin = text.indexOf(README_BEGIN);
  const end = text.indexOf(README_END);
  if (begin < 0 || end < begin) return false;
  writeFileSync(readmePath, `${text.slice(0, begin + README_BEGIN.length)}\n${readmeBlock(r)}\n${text.slice(end)}`);
  return true;
}

function table(headers: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(esc).join(' | ')} |`,
    `|${headers.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(esc).join(' | ')} |`),
  ].join('\n');
}
