/**
 * The "Design targets" table: issue 12's performance targets, each with the
 * figure this run measured and met / missed / not measured. Every target is a
 * ratio within the run (to the floor, to a peer, to `docker run`), so it holds
 * whatever the machine's absolute speed.
 */
import { fmt, pct, ratio } from './format.js';
import { dockerFloorNumbers, otherPlacementNumbers, unaryNumbers, type Section, type UnaryNumbers } from './sections.js';
import { isFailed, type BenchResults, type SystemFigures } from './types.js';

const KiB = 1024;

type Verdict = boolean | undefined;
const mark = (ok: Verdict) => (ok === undefined ? 'not measured' : ok ? 'met' : 'missed');
const known = (...v: (number | undefined)[]) => v.every((x) => x !== undefined && Number.isFinite(x));
/** All of the checks hold; undefined when any could not be judged. */
const all = (...oks: Verdict[]): Verdict => (oks.some((o) => o === undefined) ? undefined : oks.every(Boolean));

export function designTargets(r: BenchResults): Section | undefined {
  const find = (name: string) => r.transport.find((s) => s.name === name);
  const ax = find('agentix');
  const floor = find('raw-ws');
  const sio = find('socketio');
  const capn = find('capnweb');
  const hasDocker = dockerFloorNumbers(r) !== undefined;
  if (!ax && !hasDocker) return undefined;
  const rows: string[][] = [];

  // Sequential unary p50.
  const a = ax ? unaryNumbers(ax) : {};
  const fl = floor ? unaryNumbers(floor) : {};
  const s = sio ? unaryNumbers(sio) : {};
  const c = capn ? unaryNumbers(capn) : {};
  rows.push(['unary p50, sequential: ≤ 1.5× the floor', ratio(a.p50Us, fl.p50Us), mark(known(a.p50Us, fl.p50Us) ? a.p50Us! <= 1.5 * fl.p50Us! : undefined)]);
  rows.push([
    'unary p50, sequential: below Socket.IO and capnweb',
    `${fmt(a.p50Us)} µs vs ${fmt(s.p50Us)} / ${fmt(c.p50Us)} µs`,
    mark(all(known(a.p50Us, s.p50Us) ? a.p50Us! < s.p50Us! : undefined, known(a.p50Us, c.p50Us) ? a.p50Us! < c.p50Us! : undefined)),
  ]);

  // Calls/s with 64 in flight, in each placement.
  const inflightRow = (placement: string, num: (x: SystemFigures) => UnaryNumbers) => {
    const an = ax ? num(ax) : {};
    const fn = floor ? num(floor) : {};
    const sn = sio ? num(sio) : {};
    const ok = all(known(an.perSec, fn.perSec) ? an.perSec! >= 0.8 * fn.perSec! : undefined, known(an.perSec, sn.perSec) ? an.perSec! >= sn.perSec! : undefined);
    return [
      `calls/s @${r.plan.inflight}, one connection, ${placement}: ≥ 80% of the floor and ≥ Socket.IO`,
      `${pct(an.perSec, fn.perSec)} of the floor; ${fmt(an.perSec)} vs Socket.IO ${fmt(sn.perSec)}`,
      mark(ok),
    ];
  };
  rows.push(inflightRow(r.machine.placement.name, unaryNumbers));
  const other = r.machine.otherPlacement;
  if (other) rows.push(inflightRow(other.name, otherPlacementNumbers));
  else {
    const missing = r.machine.placement.name === 'split-core' ? 'same-core' : 'split-core';
    rows.push([`calls/s @${r.plan.inflight}, one connection, ${missing}: ≥ 80% of the floor and ≥ Socket.IO`, `not in this run (placement ${r.machine.placement.name} only)`, mark(undefined)]);
  }

  // Bidi echo.
  const bidi = (x: SystemFigures | undefined) => (x?.bidi && !isFailed(x.bidi) ? x.bidi.p50Us : undefined);
  rows.push(['bidi echo round trip p50: ≤ 1.5× the floor', ratio(bidi(ax), bidi(floor)), mark(known(bidi(ax), bidi(floor)) ? bidi(ax)! <= 1.5 * bidi(floor)! : undefined)]);

  // Payload throughput.
  const mbps = (x: SystemFigures | undefined, bytes: number) => (x?.payload && !isFailed(x.payload) ? x.payload.find((p) => p.bytes === bytes)?.mbPerSec : undefined);
  for (const [bytes, share] of [[KiB, 0.75], [64 * KiB, 0.9]] as const) {
    const av = mbps(ax, bytes);
    const fv = mbps(floor, bytes);
    rows.push([`${bytes / KiB} KiB payload MB/s: ≥ ${share * 100}% of the floor`, pct(av, fv), mark(known(av, fv) ? av! >= share * fv! : undefined)]);
  }

  // CPU per call: reported, no bound.
  const cpu = r.transport
    .map((x) => ({ label: x.name, us: unaryNumbers(x).serverCpuUs }))
    .filter((x) => x.us !== undefined)
    .map((x) => `${x.label} ${fmt(x.us)}`);
  rows.push([`server-side CPU µs per call @${r.plan.inflight} (server + worker; every peer's server tree), ${r.machine.placement.name}`, cpu.length ? cpu.join(', ') : '–', cpu.length ? 'reported' : mark(undefined)]);

  // Docker sandboxes against `docker run` of the same task image.
  const d = dockerFloorNumbers(r);
  const firstOk = d && known(d.firstP50, d.floorP50) ? d.firstP50! <= 1.1 * d.floorP50! : undefined;
  rows.push([
    `Docker create → first call, p50 of ${r.plan.sandboxes}: ≤ 1.1× \`docker run --rm <same task image> sh -c :\``,
    d && known(d.firstP50, d.floorP50) ? `${ratio(d.firstP50, d.floorP50)} (${fmt(d.firstP50)} vs ${fmt(d.floorP50)} ms)` : '–',
    mark(firstOk),
  ]);
  const waveOk = d && known(d.waveMs, d.floorWaveMs) ? d.waveMs! <= 1.2 * d.floorWaveMs! : undefined;
  rows.push([
    `${r.plan.sandboxParallel} Docker sandboxes at once, until all answered: ≤ 1.2× ${r.plan.sandboxParallel} parallel \`docker run\``,
    d && known(d.waveMs, d.floorWaveMs) ? `${ratio(d.waveMs, d.floorWaveMs)} (${fmt(d.waveMs)} vs ${fmt(d.floorWaveMs)} ms)` : '–',
    mark(waveOk),
  ]);

  return {
    title: 'Design targets',
    note: 'issue 12\'s targets for Agentix; every figure is a ratio within this run',
    headers: ['target', 'measured', 'verdict'],
    rows,
    textColumns: [1, 2],
  };
}
