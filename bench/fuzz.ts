/**
 * The 1M-frame fuzz run (issue 9's acceptance; CI runs 100k in
 * test/runtime/fuzz.test.ts): the same harness (test/support/fuzz/) against
 * a real server of fixtures/fuzz, with a well-behaved RuntimeClient checking
 * every answer all along.
 *
 *   node --import tsx bench/fuzz.ts                         1M frames, 4 connections, a random seed
 *   node --import tsx bench/fuzz.ts --seed=S --frames=N --connections=C --minutes=M
 *   node --import tsx bench/fuzz.ts --exclude=deep,bomb     leave frame kinds out (to look past a known defect)
 *   node --import tsx bench/fuzz.ts --replay=FILE           send one dumped connection life again, print the answers
 *   node --import tsx bench/fuzz.ts --write                 also write the figures into bench/results/fuzz.md
 *                                                           (bench/RESULTS.md includes that section)
 *
 * Prints the summary; exits 1 when anything was wrong, lost, violated or restarted.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { runFuzz, summarize, type FuzzReport } from '../test/support/fuzz/harness.js';
import { mib } from '../test/support/fuzz/proc.js';
import { Recorder } from '../test/support/fuzz/raw.js';
import { fuzzManifest, serveFuzz } from '../test/support/fuzz/serve-fuzz.js';
import { loadTargets } from '../test/support/fuzz/targets.js';
import { REPO_ROOT } from './lib/project-copy.js';

const MAX_PAYLOAD = 256 * 1024;

function parse(argv: string[]) {
  const o = { seed: randomBytes(6).toString('hex'), frames: 1_000_000, connections: 4, minutes: 30, exclude: [] as string[], replay: undefined as string | undefined, write: false };
  for (const a of argv) {
    const [k, v = ''] = a.split('=', 2);
    if (k === '--seed' && v) o.seed = v;
    else if (k === '--frames' && Number(v) > 0) o.frames = Number(v);
    else if (k === '--connections' && Number(v) > 0) o.connections = Number(v);
    else if (k === '--minutes' && Number(v) > 0) o.minutes = Number(v);
    else if (k === '--exclude' && v) o.exclude = v.split(',');
    else if (k === '--replay' && v) o.replay = v;
    else if (k === '--write') o.write = true;
    else throw new Error(`unknown argument ${a} (see the top of bench/fuzz.ts)`);
  }
  return o;
}

/** Sends the frames of one dumped life (connection.ts writes them on a violation) over one connection, in order. */
async function replay(file: string): Promise<number> {
  const frames = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; hex?: string; text?: string });
  const server = await serveFuzz({ AGENTIX_MAX_PAYLOAD: String(MAX_PAYLOAD) });
  try {
    const rec = await Recorder.open(server.url, server.token);
    for (const f of frames) {
      if (rec.closeCode !== undefined) break;
      if (f.text !== undefined) rec.ws.send(f.text);
      else rec.send(Buffer.from(f.hex!, 'hex'));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 3000));
    for (const m of rec.messages) process.stdout.write(`${JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)).slice(0, 300)}\n`);
    process.stdout.write(`replayed ${frames.length} frames; ${rec.messages.length} messages back; socket ${rec.closeCode === undefined ? 'open' : `closed ${rec.closeCode}`}; workers started: ${server.workers().length}\n`);
    rec.close();
    return 0;
  } finally {
    await server.stop();
  }
}

function section(r: FuzzReport, requested: number, exclude: string[]): string {
  const clean = r.good.wrong.length === 0 && r.good.lost.length === 0 && r.violations.length === 0 && r.restarts === 0 && r.internalErrors.length === 0 && !r.timedOut;
  return [
    '## Fuzz run',
    '',
    `\`node --import tsx bench/fuzz.ts --seed=${r.seed} --frames=${requested}${exclude.length ? ` --exclude=${exclude.join(',')}` : ''}\` on ${new Date().toISOString().slice(0, 16)}Z (${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}; load average ${loadavg()[0]!.toFixed(1)} at the end: the machine was shared with other work).`,
    '',
    '| what | figure |',
    '| --- | ---: |',
    `| frames sent (4 connections, ${mib(r.bytes)} MiB) | ${r.frames.toLocaleString('en-US')} in ${(r.durationMs / 1000).toFixed(0)} s${r.timedOut ? ' (time limit)' : ''} |`,
    `| frames/s | ${r.framesPerSec.toLocaleString('en-US')} |`,
    `| connection lives (closes by the server: ${Object.entries(r.closes).filter(([k]) => k !== 'self').map(([k, v]) => `${v}×${k}`).join(', ') || 'none'}) | ${r.lifetimes.toLocaleString('en-US')} |`,
    `| tracked calls / finals checked | ${r.tracked.toLocaleString('en-US')} / ${r.trackedFinals.toLocaleString('en-US')} |`,
    `| good client: calls, wrong, lost | ${r.good.calls.toLocaleString('en-US')}, ${r.good.wrong.length}, ${r.good.lost.length} |`,
    `| good client round trip p50 / p99 / max | ${r.good.p50Ms.toFixed(1)} / ${r.good.p99Ms.toFixed(0)} / ${r.good.maxMs.toFixed(0)} ms |`,
    `| protocol violations seen by the fuzzers | ${r.violations.length} |`,
    `| worker restarts | ${r.restarts} |`,
    `| RSS peak: server / worker | ${mib(r.memory.serverPeak)} / ${mib(r.memory.workerPeak)} MiB |`,
    '',
    clean ? 'Verdict: clean.' : `Verdict: NOT clean — ${[r.timedOut && 'stopped by the time limit', r.good.wrong.length && `${r.good.wrong.length} wrong`, r.good.lost.length && `${r.good.lost.length} lost`, r.violations.length && `${r.violations.length} violations (${[...new Set(r.violations.map((v) => v.kind))].join(', ')})`, r.restarts && `${r.restarts} restarts`, r.internalErrors.length && 'runtime error output'].filter(Boolean).join(', ')}.`,
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  if (o.replay) return replay(o.replay);
  const server = await serveFuzz({ AGENTIX_MAX_PAYLOAD: String(MAX_PAYLOAD) });
  let report: FuzzReport;
  try {
    process.stderr.write(`fuzz: seed ${o.seed}, ${o.frames} frames, ${o.connections} connections\n`);
    report = await runFuzz({
      url: server.url,
      token: server.token,
      seed: o.seed,
      frames: o.frames,
      connections: o.connections,
      targets: loadTargets(fuzzManifest),
      maxPayload: MAX_PAYLOAD,
      serverPid: server.pid,
      workerLogFile: server.workerLogFile,
      timeLimitMs: o.minutes * 60_000,
      exclude: o.exclude,
      dumpDir: join(REPO_ROOT, 'bench/results/tmp/fuzz', o.seed),
      log: (l) => process.stderr.write(`${l}\n`),
    });
  } finally {
    await server.stop();
  }
  process.stdout.write(`${summarize(report)}\n`);
  mkdirSync(join(REPO_ROOT, 'bench/results/tmp'), { recursive: true });
  writeFileSync(join(REPO_ROOT, 'bench/results/tmp', `fuzz-${o.seed}.json`), JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v), 2));
  if (o.write) writeFileSync(join(REPO_ROOT, 'bench/results/fuzz.md'), section(report, o.frames, o.exclude));
  const clean = report.good.wrong.length === 0 && report.good.lost.length === 0 && report.violations.length === 0 && report.restarts === 0 && report.internalErrors.length === 0 && !report.timedOut;
  return clean ? 0 : 1;
}

process.exitCode = await main();
