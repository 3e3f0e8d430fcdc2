/**
 * `npm run bench -- --smoke` runs end to end with tiny counts: every system is
 * started and answered (or reported with a reason), the results file, the
 * markdown report and the SVG chart are written, and every row and column the
 * report promises is there (CPU per call, every peer's stream and bidi, both
 * placements, the `docker run` floor, the design targets). No timed
 * assertions: the figures themselves belong to the bench, not to tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'agentix-bench-smoke-'));

interface Cpu { serverUs?: number; clientUs?: number }
interface Unary { p50Us?: number; error?: string; inflight?: { perSec?: number; error?: string; cpu?: Cpu } }
interface System {
  name: string; label: string; error?: string; unary?: Unary; stream?: { perSec?: number; error?: string }; bidi?: { p50Us?: number; error?: string };
  otherPlacement?: { placement: string; unary?: Unary };
}
interface Floor { command: string; sequential: { p50Ms?: number; error?: string }; parallel?: { wallMs?: number; error?: string } }

let results: {
  transport: System[];
  machine: { placement: { name: string }; otherPlacement?: { name: string } };
  sandbox: { docker?: { skipped?: string; error?: string; floor?: Floor } };
  pool?: { local?: { warmClaim?: { p50Ms?: number; error?: string }; refill?: { claimsPerSec?: number; error?: string }; error?: string } };
  tooling: object;
} | undefined;
let stdout = '';
let md = '';

const ALL = ['raw-ws', 'agentix', 'naive-hop', 'socket-handoff', 'socketio', 'grpc', 'capnweb'];
const system = (name: string) => {
  const s = results!.transport.find((x) => x.name === name);
  assert.ok(s, `${name} is in the results`);
  return s!;
};
/** The rows of one RESULTS.md section (the lines of its table). */
const sectionOf = (title: string) => {
  const at = md.indexOf(`## ${title}`);
  assert.ok(at >= 0, `RESULTS.md has a section "${title}"`);
  const next = md.indexOf('\n## ', at + 3);
  return md.slice(at, next < 0 ? undefined : next);
};

test.before(() => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), '--smoke', `--out=${out}`], {
    cwd: root, encoding: 'utf8', timeout: 480_000, env: { ...process.env, FORCE_COLOR: '0' },
  });
  stdout = r.stdout;
  if (r.status !== 0) throw new Error(`bench --smoke exited ${r.status ?? r.signal}:\n${r.stderr.slice(-3000)}`);
  const files = readdirSync(join(out, 'results')).filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f));
  assert.is(files.length, 1, 'one dated results file');
  results = JSON.parse(readFileSync(join(out, 'results', files[0]), 'utf8'));
  md = readFileSync(join(out, 'RESULTS.md'), 'utf8');
});

test.after(() => rmSync(out, { recursive: true, force: true }));

test('the floor and every peer answer run("hello")', () => {
  for (const name of ['raw-ws', 'naive-hop', 'socket-handoff', 'socketio', 'grpc', 'capnweb']) {
    const s = system(name);
    assert.is(s.error, undefined, `${name}: ${s.error}`);
    assert.type(s.unary?.p50Us, 'number', `${name} unary: ${JSON.stringify(s.unary)}`);
  }
});

test('Agentix itself is measured: a failure of ours is a failing test, not a footnote', () => {
  const a = results!.transport.find((x) => x.name === 'agentix');
  assert.ok(a, 'agentix is in the results');
  assert.is(a!.error, undefined, `agentix: ${a!.error}`);
  assert.is(a!.unary?.error, undefined, `agentix unary: ${a!.unary?.error}`);
  assert.type(a!.unary?.p50Us, 'number', `agentix unary: ${JSON.stringify(a!.unary)}`);
  assert.type(a!.stream?.perSec, 'number', `agentix stream: ${JSON.stringify(a!.stream)}`);
});

test('the 64-in-flight figure carries server-side and client CPU per call for Agentix and every peer', () => {
  for (const name of ALL) {
    const cpu = system(name).unary?.inflight?.cpu;
    assert.type(cpu?.serverUs, 'number', `${name} server CPU per call: ${JSON.stringify(system(name).unary?.inflight)}`);
    assert.type(cpu?.clientUs, 'number', `${name} client CPU per call`);
  }
  const unary = sectionOf('Unary round trip');
  assert.match(unary, /\| server CPU µs\/call @64 \| client CPU µs\/call @64 \|/);
});

test('Socket.IO, capnweb, the naive hop, the socket hand-off and grpc-js have stream and bidi rows beside Agentix and the floor', () => {
  const streamRows = sectionOf('Server stream of small items');
  const bidiRows = sectionOf('Bidi echo round trip');
  for (const name of ALL) {
    const s = system(name);
    assert.type(s.stream?.perSec, 'number', `${name} stream: ${JSON.stringify(s.stream)}`);
    assert.type(s.bidi?.p50Us, 'number', `${name} bidi: ${JSON.stringify(s.bidi)}`);
    assert.ok(streamRows.includes(`| ${s.label} | `), `stream table has a row for ${name}`);
    assert.ok(bidiRows.includes(`| ${s.label} | `), `bidi table has a row for ${name}`);
  }
});

test('a default split-core run measures calls/s at 64 in flight same-core too, and reports both', () => {
  if (results!.machine.placement.name !== 'split-core') {
    // unpinned (no taskset) or one CPU: there is no second placement to measure
    assert.is(results!.machine.otherPlacement, undefined);
    return;
  }
  assert.is(results!.machine.otherPlacement?.name, 'same-core');
  for (const name of ALL) {
    const o = system(name).otherPlacement;
    assert.is(o?.placement, 'same-core', `${name} has same-core figures`);
    assert.type(o?.unary?.inflight?.perSec, 'number', `${name} same-core calls/s: ${JSON.stringify(o)}`);
  }
  assert.match(sectionOf('Unary in both placements'), /calls\/s @64 split-core \| vs floor \| calls\/s @64 same-core/);
  const targets = sectionOf('Design targets');
  assert.match(targets, /calls\/s @64, one connection, split-core: .*\| (met|missed) \|/);
  assert.match(targets, /calls\/s @64, one connection, same-core: .*\| (met|missed) \|/);
});

test('Docker sandboxes are measured beside docker run of the same task image, in the same run', () => {
  const docker = results!.sandbox.docker;
  assert.ok(docker, 'the docker backend is reported');
  if (docker!.skipped) return; // no engine: reported as skipped (the other tests of this file still hold)
  assert.is(docker!.error, undefined, `docker: ${docker!.error}`);
  const floor = docker!.floor;
  assert.match(floor?.command ?? '', /^docker run --rm \S+ sh -c :$/);
  assert.type(floor?.sequential.p50Ms, 'number', `docker run p50: ${JSON.stringify(floor?.sequential)}`);
  assert.type(floor?.parallel?.wallMs, 'number', `parallel docker run: ${JSON.stringify(floor?.parallel)}`);
  const rows = sectionOf('Docker sandboxes against the engine\'s floor');
  assert.match(rows, /\| create → first call p50 .* \| [\d,.]+ ms \| [\d,.]+ ms \| [\d.]+× \|/);
  assert.match(rows, /at once, until all answered .* \| [\d,.]+ ms \| [\d,.]+ ms \| [\d.]+× \|/);
});

test('the Design targets table holds issue 12\'s targets, each with a verdict', () => {
  const targets = sectionOf('Design targets');
  for (const target of [
    'unary p50, sequential: ≤ 1.5× the floor',
    'unary p50, sequential: below Socket.IO and capnweb',
    'bidi echo round trip p50: ≤ 1.5× the floor',
    '1 KiB payload MB/s: ≥ 75% of the floor',
    '64 KiB payload MB/s: ≥ 90% of the floor',
    'server-side CPU µs per call @64',
    'Docker create → first call',
    'Docker sandboxes at once, until all answered: ≤ 1.2×',
  ]) {
    const line = targets.split('\n').find((l) => l.includes(target));
    assert.ok(line, `target row "${target}"`);
    assert.match(line!, /\| (met|missed|not measured|reported) \|$/, line);
  }
  // what this smoke run measured gets a verdict, not "not measured"
  assert.match(targets, /unary p50, sequential: ≤ 1\.5× the floor \| [\d.]+× \| (met|missed) \|/);
  assert.match(targets, /bidi echo round trip p50: ≤ 1\.5× the floor \| [\d.]+× \| (met|missed) \|/);
});

test('sandbox and tooling groups are reported, measured or with a reason', () => {
  assert.ok(Object.keys(results!.sandbox).length > 0);
  assert.ok(Object.keys(results!.tooling).length > 0);
});

test('a warm pool on the local deployment is measured: claim p50 and claims/s while it refills, in their own section', () => {
  const local = results!.pool?.local;
  assert.ok(local && !local.error, `pool on local: ${local?.error ?? 'missing'}`);
  assert.ok((local!.warmClaim?.p50Ms ?? 0) > 0, `warm claim: ${JSON.stringify(local!.warmClaim)}`);
  assert.ok((local!.refill?.claimsPerSec ?? 0) > 0, `refill: ${JSON.stringify(local!.refill)}`);
  assert.match(sectionOf('Warm pools: claim()'), /\| local \| \d+ \/ \d+ \| [\d.]+ \/ /);
});

test('writes RESULTS.md with ratios to the floor, and a chart a browser can show', () => {
  assert.match(md, /## Unary round trip/);
  assert.match(md, /vs floor/);
  assert.match(md, /Placement: (split-core|same-core|unpinned)/);
  const svg = readFileSync(join(out, 'results', 'chart.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<rect [^>]*width="[\d.]+"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.ok(existsSync(join(out, 'results', 'chart.svg')));
});

test('prints the tables to stdout', () => {
  assert.match(stdout, /== Unary round trip/);
  assert.match(stdout, /raw ws \+ msgpackr echo \(floor\)/);
});

test.run();
