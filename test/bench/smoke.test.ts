/**
 * `npm run bench -- --smoke` runs end to end with tiny counts: every system is
 * started and answered (or reported with a reason), the results file, the
 * markdown report and the SVG chart are written. No timed assertions: the
 * figures themselves belong to the bench, not to tests.
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

interface System { name: string; error?: string; unary?: { p50Us?: number; error?: string }; stream?: { perSec?: number } }

let results: { transport: System[]; machine: { placement: { name: string } }; sandbox: object; tooling: object } | undefined;
let stdout = '';

test.before(() => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), '--smoke', `--out=${out}`], {
    cwd: root, encoding: 'utf8', timeout: 480_000, env: { ...process.env, FORCE_COLOR: '0' },
  });
  stdout = r.stdout;
  if (r.status !== 0) throw new Error(`bench --smoke exited ${r.status ?? r.signal}:\n${r.stderr.slice(-3000)}`);
  const files = readdirSync(join(out, 'results')).filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f));
  assert.is(files.length, 1, 'one dated results file');
  results = JSON.parse(readFileSync(join(out, 'results', files[0]), 'utf8'));
});

test.after(() => rmSync(out, { recursive: true, force: true }));

test('the floor and every peer answer run("hello")', () => {
  for (const name of ['raw-ws', 'naive-hop', 'socketio', 'grpc', 'capnweb']) {
    const s = results!.transport.find((x) => x.name === name);
    assert.ok(s, `${name} is in the results`);
    assert.is(s!.error, undefined, `${name}: ${s!.error}`);
    assert.type(s!.unary?.p50Us, 'number', `${name} unary: ${JSON.stringify(s!.unary)}`);
  }
  assert.type(results!.transport.find((x) => x.name === 'raw-ws')!.stream?.perSec, 'number', 'raw ws stream');
  assert.type(results!.transport.find((x) => x.name === 'grpc')!.stream?.perSec, 'number', 'grpc stream');
});

test('Agentix itself is measured: a failure of ours is a failing test, not a footnote', () => {
  const a = results!.transport.find((x) => x.name === 'agentix');
  assert.ok(a, 'agentix is in the results');
  assert.is(a!.error, undefined, `agentix: ${a!.error}`);
  assert.is(a!.unary?.error, undefined, `agentix unary: ${a!.unary?.error}`);
  assert.type(a!.unary?.p50Us, 'number', `agentix unary: ${JSON.stringify(a!.unary)}`);
  assert.type(a!.stream?.perSec, 'number', `agentix stream: ${JSON.stringify(a!.stream)}`);
});

test('sandbox and tooling groups are reported, measured or with a reason', () => {
  assert.ok(Object.keys(results!.sandbox).length > 0);
  assert.ok(Object.keys(results!.tooling).length > 0);
});

test('writes RESULTS.md with ratios to the floor, and a chart a browser can show', () => {
  const md = readFileSync(join(out, 'RESULTS.md'), 'utf8');
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
