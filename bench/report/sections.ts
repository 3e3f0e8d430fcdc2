/**
 * Turns results into titled tables (header + rows of strings), the one model
 * the stdout table and RESULTS.md both render. Ratios are to the floor (raw
 * ws + msgpackr echo) measured in the same run.
 */
import { fmt, pct, ratio, why } from './format.js';
import { designTargets } from './targets.js';
import { SYSTEMS, type Scenario } from '../lib/systems.js';
import { isFailed, isSkipped, type BenchResults, type Distribution, type GenTimes, type SystemFigures, type ToolingFigures } from './types.js';

export interface Section {
  title: string;
  note?: string;
  headers: string[];
  rows: string[][];
  /** Left-aligned (text) columns besides the first; the rest are figures, right-aligned. */
  textColumns?: number[];
}


export interface UnaryNumbers { p50Us?: number; p99Us?: number; perSec?: number; serverCpuUs?: number; clientCpuUs?: number }

/** The unary figures of the run's main placement. */
export function unaryNumbers(s: SystemFigures): UnaryNumbers {
  return numbersOf(s.unary);
}

/** The unary figures of the run's second placement (none when it has only one). */
export function otherPlacementNumbers(s: SystemFigures): UnaryNumbers {
  return numbersOf(s.otherPlacement?.unary);
}

function numbersOf(u: SystemFigures['unary']): UnaryNumbers {
  if (!u || isFailed(u)) return {};
  const inflight = u.inflight;
  if (isFailed(inflight)) return { p50Us: u.p50Us, p99Us: u.p99Us };
  return { p50Us: u.p50Us, p99Us: u.p99Us, perSec: inflight.perSec, serverCpuUs: inflight.cpu?.serverUs, clientCpuUs: inflight.cpu?.clientUs };
}

export function streamPerSec(s: SystemFigures): number | undefined {
  return s.stream && !isFailed(s.stream) ? s.stream.perSec : undefined;
}

export function sections(r: BenchResults): Section[] {
  const out: Section[] = [];
  const floor = r.transport.find((s) => s.name === 'raw-ws');
  const f = floor ? unaryNumbers(floor) : {};
  const systemError = (s: SystemFigures, what: unknown) => (s.error ? `failed: ${s.error}` : why(what));

  if (r.transport.length) {
    out.push({
      title: 'Unary round trip, run("hello")',
      note: `sequential p50/p99; calls/s with ${r.plan.inflight} in flight on one connection; ratios to the floor; CPU per call during the ${r.plan.inflight}-in-flight runs: server side = the server process and every process under it (Agentix: server + worker; naive hop: server + child; socket hand-off: parent + the child holding the socket), from /proc/<pid>/stat, 10 ms ticks; client = the client process (process.cpuUsage)`,
      headers: ['system', 'p50 µs', 'p99 µs', `calls/s @${r.plan.inflight}`, 'p50 vs floor', 'calls/s vs floor', `server CPU µs/call @${r.plan.inflight}`, `client CPU µs/call @${r.plan.inflight}`],
      rows: r.transport.map((s) => {
        const u = unaryNumbers(s);
        if (u.p50Us === undefined) return [s.label, systemError(s, s.unary), '', '', '', '', '', ''];
        return [s.label, fmt(u.p50Us), fmt(u.p99Us), fmt(u.perSec), ratio(u.p50Us, f.p50Us), pct(u.perSec, f.perSec), fmt(u.serverCpuUs), fmt(u.clientCpuUs)];
      }),
    });
    const other = r.machine.otherPlacement;
    if (other) {
      const main = r.machine.placement.name;
      const fo = floor ? otherPlacementNumbers(floor) : {};
      out.push({
        title: `Unary in both placements, ${main} and ${other.name}`,
        note: `the same servers, the client pinned once to CPU ${r.machine.placement.clientCpu} (${main}) and once to CPU ${other.clientCpu} (${other.name}, with the server); each placement's ratios are to the floor in that placement`,
        headers: ['system', `calls/s @${r.plan.inflight} ${main}`, 'vs floor', `calls/s @${r.plan.inflight} ${other.name}`, 'vs floor', `p50 µs ${main}`, `p50 µs ${other.name}`, `server CPU µs/call ${main}`, `server CPU µs/call ${other.name}`],
        rows: r.transport.map((s) => {
          const u = unaryNumbers(s);
          const o = otherPlacementNumbers(s);
          if (u.p50Us === undefined && o.p50Us === undefined) return [s.label, systemError(s, s.otherPlacement?.unary ?? s.unary), '', '', '', '', '', '', ''];
          const oText = o.perSec !== undefined ? fmt(o.perSec) : s.otherPlacement?.unary && isFailed(s.otherPlacement.unary) ? `failed: ${s.otherPlacement.unary.error}` : '–';
          return [s.label, fmt(u.perSec), pct(u.perSec, f.perSec), oText, pct(o.perSec, fo.perSec), fmt(u.p50Us), fmt(o.p50Us), fmt(u.serverCpuUs), fmt(o.serverCpuUs)];
        }),
      });
    }
    const sizes = r.plan.payloadSizes;
    const floorPayload = floor?.payload && !isFailed(floor.payload) ? floor.payload : [];
    out.push({
      title: 'Payload scaling, echoBytes(Uint8Array)',
      note: 'MB/s of argument bytes (10^6 B/s, each call carries the bytes there and back), sequential calls; ratio to the floor',
      headers: ['system', ...sizes.map((b) => `${sizeLabel(b)} MB/s`), ...sizes.map((b) => `${sizeLabel(b)} vs floor`)],
      rows: r.transport.filter((s) => s.payload !== undefined || s.error).map((s) => {
        if (!s.payload || isFailed(s.payload)) return [s.label, systemError(s, s.payload), ...sizes.slice(1).map(() => ''), ...sizes.map(() => '')];
        const p = s.payload;
        const at = (b: number, list: { bytes: number; mbPerSec: number }[]) => list.find((x) => x.bytes === b)?.mbPerSec;
        return [s.label, ...sizes.map((b) => fmt(at(b, p))), ...sizes.map((b) => pct(at(b, p), at(b, floorPayload)))];
      }),
    });
    const takesPart = (s: SystemFigures, scenario: Scenario) => SYSTEMS.find((x) => x.name === s.name)?.scenarios.includes(scenario) ?? false;
    const streamers = r.transport.filter((s) => s.stream !== undefined || (s.error && takesPart(s, 'stream')));
    const fs = floor ? streamPerSec(floor) : undefined;
    out.push({
      title: 'Server stream of small items, count(n)',
      note: 'items/s through one stream, consumed as they arrive; each system with its own flow control (Socket.IO: a credit window of 1,024 items acknowledged every 256; capnweb: a ReadableStream; naive hop: the child streams over IPC and pauses while the socket holds over 1 MiB; socket hand-off: the child writes to the socket itself, pausing the same way)',
      headers: ['system', 'items/s', 'vs floor'],
      rows: streamers.map((s) => {
        const v = streamPerSec(s);
        return v === undefined ? [s.label, systemError(s, s.stream), ''] : [s.label, fmt(v), pct(v, fs)];
      }),
    });
    const bidiFloor = floor?.bidi && !isFailed(floor.bidi) ? floor.bidi.p50Us : undefined;
    out.push({
      title: 'Bidi echo round trip, chat(inbox)',
      note: 'one item in, its echo out, sequential, on one open bidi stream (Agentix chat(inbox), grpc-js Chat, capnweb a ReadableStream in and one out); Socket.IO emits chat and the server emits it back; the floor, the naive hop and the socket hand-off answer a call frame, the same echo as their unary',
      headers: ['system', 'p50 µs', 'p99 µs', 'p50 vs floor'],
      rows: r.transport.filter((s) => s.bidi !== undefined || (s.error && takesPart(s, 'bidi'))).map((s) =>
        !s.bidi || isFailed(s.bidi) ? [s.label, systemError(s, s.bidi), '', ''] : [s.label, fmt(s.bidi.p50Us), fmt(s.bidi.p99Us), ratio(s.bidi.p50Us, bidiFloor)]),
    });
  }

  const sb = r.sandbox;
  const sbRows: string[][] = [];
  for (const backend of ['docker', 'local'] as const) {
    const b = sb[backend];
    if (!b || isFailed(b) || isSkipped(b)) { sbRows.push([backend, sb.skipped ? `skipped: ${sb.skipped}` : why(b), '', '', '']); continue; }
    const dist = (d: Distribution | { error: string } | undefined) => (!d || isFailed(d) ? (d ? `failed: ${d.error}` : '–') : `${fmt(d.p50Ms)} / ${fmt(d.p90Ms)} ms (n=${d.n})`);
    const par = !b.parallel ? '–' : isFailed(b.parallel) ? `failed: ${b.parallel.error}` : `${fmt(b.parallel.wallMs)} ms for ${b.parallel.n}`;
    sbRows.push([backend, dist(b.firstCall), par, dist(b.delete), (b.notes ?? []).join('; ')]);
  }
  out.push({
    title: 'Sandboxes: create → first call answered',
    note: 'sandboxes made one after another (p50 / p90), then a wave created at once (wall time until every one answered a call), and delete time',
    headers: ['deployment', 'create → first call p50 / p90', 'parallel wave', 'delete p50 / p90', 'notes'],
    rows: sbRows,
    textColumns: [4],
  });

  const floorRows = dockerFloorRows(r);
  if (floorRows) {
    out.push({
      title: 'Docker sandboxes against the engine\'s floor',
      note: `the floor is \`${floorRows.command}\` on the same task image in the same run (the engine creates, starts, runs and removes a container): one before each Agentix sandbox of the sequential series, and a wave of as many at once right before Agentix's wave`,
      headers: ['figure', 'Agentix', 'docker run floor', 'Agentix / floor'],
      rows: floorRows.rows,
    });
  }

  const targets = designTargets(r);
  if (targets) out.push(targets);

  const t = r.tooling;
  const val = (v: unknown, show: (x: any) => string) => (v === undefined ? (t.skipped ? `skipped: ${t.skipped}` : '–') : isFailed(v) || isSkipped(v) ? why(v) : show(v));
  out.push({
    title: 'Tooling',
    note: t.cli ? `cold = a fresh node process; CLI run as ${t.cli}${t.measuredSeparately ? `; measured in a tooling-only run on ${t.measuredSeparately.date.slice(0, 10)}${t.measuredSeparately.loadAvg !== undefined ? ` (load average ${t.measuredSeparately.loadAvg} at its start)` : ''}` : ''}` : undefined,
    headers: ['what', 'time / size'],
    rows: [
      ['agentix gen, bench project (4 functions), cold', val(t.genBench, gen)],
      [`agentix gen, generated project (${r.plan.genFunctions} functions), cold`, val(t.genLarge, gen)],
      [corpusLabel(t.genCorpus), val(t.genCorpus, (v) => `${gen(v)} (target ≤ 1,500 ms, ≤ 250 MiB)`)],
      ['agentix build, cold', val(t.buildCold, (v) => `${fmt(v.ms)} ms`)],
      ['agentix build after a one-line change', val(t.buildWarm, (v) => `${fmt(v.ms)} ms`)],
      ['bundle image size', val(t.imageBytes, (v: number) => `${fmt(v / 2 ** 20)} MiB`)],
    ],
  });
  return out;
}

/** Agentix's Docker figures beside the `docker run` floor, with ratios; undefined when there is no floor in the run. */
export function dockerFloorNumbers(r: BenchResults): { command: string; firstP50?: number; floorP50?: number; firstN?: number; floorN?: number; waveMs?: number; floorWaveMs?: number; waveN?: number } | undefined {
  const d = r.sandbox.docker;
  if (!d || isFailed(d) || isSkipped(d) || !d.floor) return undefined;
  const fl = d.floor;
  const first = d.firstCall && !isFailed(d.firstCall) ? d.firstCall : undefined;
  const seq = !isFailed(fl.sequential) ? fl.sequential : undefined;
  const wave = d.parallel && !isFailed(d.parallel) ? d.parallel : undefined;
  const floorWave = fl.parallel && !isFailed(fl.parallel) ? fl.parallel : undefined;
  return { command: fl.command, firstP50: first?.p50Ms, firstN: first?.n, floorP50: seq?.p50Ms, floorN: seq?.n, waveMs: wave?.wallMs, waveN: wave?.n, floorWaveMs: floorWave?.wallMs };
}

function dockerFloorRows(r: BenchResults): { command: string; rows: string[][] } | undefined {
  const n = dockerFloorNumbers(r);
  const d = r.sandbox.docker;
  if (!n || !d || isFailed(d) || isSkipped(d) || !d.floor) return undefined;
  const orWhy = (v: number | undefined, what: unknown) => (v !== undefined ? `${fmt(v)} ms` : why(what));
  return {
    command: n.command,
    rows: [
      [`create → first call p50 of ${n.firstN ?? r.plan.sandboxes} / docker run p50 of ${n.floorN ?? r.plan.sandboxes}, one after another`, orWhy(n.firstP50, d.firstCall), orWhy(n.floorP50, d.floor.sequential), ratio(n.firstP50, n.floorP50)],
      [`${n.waveN ?? r.plan.sandboxParallel} at once, until all answered / all exited`, orWhy(n.waveMs, d.parallel), orWhy(n.floorWaveMs, d.floor.parallel), ratio(n.waveMs, n.floorWaveMs)],
    ],
  };
}

/** `1,210 ms (main thread CPU 980 ms), peak RSS 180 MiB`. */
const gen = (v: GenTimes) => `${fmt(v.coldMs)} ms${v.mainThreadCpuMs !== undefined ? ` (main thread CPU ${fmt(v.mainThreadCpuMs)} ms)` : ''}${v.peakRssMiB !== undefined ? `, peak RSS ${fmt(v.peakRssMiB)} MiB` : ''}`;

function corpusLabel(v: ToolingFigures['genCorpus']): string {
  const what = v && !isFailed(v) ? `${v.functions} functions re-exported from ${v.packages} npm packages` : 'functions re-exported from npm packages';
  return `agentix gen, corpus (${what}' typings), cold`;
}

export function sizeLabel(bytes: number): string {
  return bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 1024} KiB`;
}
