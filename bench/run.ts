/**
 * `npm run bench`: Agentix against its peers, one run on one machine.
 *
 *   npm run bench                      quick mode (3-4 minutes)
 *   npm run bench -- --full            longer runs, more repeats
 *   npm run bench -- --smoke           tiny counts: checks that every scenario runs (test/bench)
 *   npm run bench -- --same-core       everything same-core: server and client both on CPU 0 (default: split-core,
 *                                      server CPU 0, client CPU 1, and unary once more same-core in the same run)
 *   npm run bench -- --only=raw-ws,agentix     only these transport systems
 *   npm run bench -- --skip=sandbox,tooling    leave scenario groups out (transport, sandbox, pool, kubernetes, tooling)
 *   npm run bench -- --out=DIR         write results there instead of bench/ (RESULTS.md, results/DATE.json, results/chart.svg)
 *   npm run bench -- --render=FILE     re-render RESULTS.md and the chart from an earlier results JSON
 *   npm run bench -- --readme          also put the run's tables into README.md (between its bench-tables markers)
 *
 * A scenario that fails or cannot run is reported with its reason; the others still run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { installExitCleanup } from './lib/cleanup.js';
import { currentLoad, machineInfo } from './lib/machine.js';
import { choosePlacement, otherPlacement } from './lib/placement.js';
import { planFor, type Mode } from './lib/plan.js';
import { REPO_ROOT } from './lib/project-copy.js';
import { SYSTEMS, type SystemName } from './lib/systems.js';
import { runTransport } from './scenarios/transport.js';
import { runSandboxes } from './scenarios/sandbox.js';
import { runTooling } from './scenarios/tooling.js';
import { kubernetesSection, runKubernetes, type KubernetesFigures } from './scenarios/kubernetes.js';
import { poolSection, runPool, type PoolFigures } from './scenarios/pool.js';
import { renderMarkdown } from './report/markdown.js';
import { renderChart } from './report/chart.js';
import { renderTable } from './report/table.js';
import { README_BEGIN, README_END, readmeBlock, spliceReadme } from './report/readme.js';
import type { BenchResults, Failed, Skipped } from './report/types.js';

/** The results file: the report's shape plus the Kubernetes and pool scenarios' figures (each rendered by its own section). */
type Results = BenchResults & { kubernetes?: KubernetesFigures | Skipped | Failed; pool?: PoolFigures | Skipped | Failed };

const GROUPS = ['transport', 'sandbox', 'pool', 'kubernetes', 'tooling'] as const;

const USAGE = `usage: npm run bench -- [--quick|--full|--smoke] [--same-core] [--only=SYSTEMS] [--skip=GROUPS] [--out=DIR]

  --full            7 rounds and longer runs (default: quick, 3 rounds)
  --smoke           tiny counts: checks that every scenario runs
  --same-core       everything same-core: server and client both on CPU 0 (default: split-core,
                    server CPU 0 and client CPU 1, plus the unary figures same-core in the same run)
  --only=a,b        transport systems: ${SYSTEMS.map((s) => s.name).join(', ')}
  --skip=a,b        groups to leave out: ${GROUPS.join(', ')}
  --out=DIR         write RESULTS.md and results/ under DIR (default: bench/; with --only,
                    --skip or --smoke: bench/results/tmp/partial, so published results stay)
  --render=FILE     measure nothing: re-render RESULTS.md and the chart from a results JSON
  --readme          also write the README's benchmark tables from this run (or --render's file)
                    between the bench-tables markers in README.md
`;

function parseArgs(argv: string[]) {
  const opts = { help: false, readme: false, render: undefined as string | undefined, mode: 'quick' as Mode, sameCore: false, only: undefined as SystemName[] | undefined, skip: [] as string[], out: join(REPO_ROOT, 'bench') };
  for (const a of argv) {
    const [k, v] = a.split('=', 2);
    if (k === '--full') opts.mode = 'full';
    else if (k === '--smoke') opts.mode = 'smoke';
    else if (k === '--quick') opts.mode = 'quick';
    else if (k === '--same-core') opts.sameCore = true;
    else if (k === '--help' || k === '-h') opts.help = true;
    else if (k === '--readme') opts.readme = true;
    else if (k === '--only' && v) {
      const names = v.split(',');
      for (const n of names) if (!SYSTEMS.some((s) => s.name === n)) throw new Error(`--only: unknown system "${n}" (known: ${SYSTEMS.map((s) => s.name).join(', ')})`);
      opts.only = names as SystemName[];
    } else if (k === '--skip' && v) {
      for (const g of v.split(',')) if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`--skip: unknown group "${g}" (known: ${GROUPS.join(', ')})`);
      opts.skip = v.split(',');
    } else if (k === '--out' && v) opts.out = v;
    else if (k === '--render' && v) opts.render = v;
    else throw new Error(`unknown argument "${a}" (npm run bench -- --help)`);
  }
  // A partial or smoke run must not overwrite the published full results: it writes under the ignored tmp/ folder.
  const partial = opts.only !== undefined || opts.skip.length > 0 || opts.mode === 'smoke';
  if (partial && !argv.some((a) => a.startsWith('--out='))) opts.out = join(REPO_ROOT, 'bench', 'results', 'tmp', 'partial');
  return opts;
}

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (opts.render) {
    // Re-renders the reports of an earlier run (after a change to the renderers), measuring nothing.
    const results = JSON.parse(readFileSync(opts.render, 'utf8')) as Results;
    writeReports(results, opts.out, `results/${basename(opts.render)}`);
    process.stdout.write(renderTable(results));
    if (opts.readme) writeReadme(results);
    return 0;
  }
  const plan = planFor(opts.mode);
  const placement = choosePlacement(opts.sameCore);
  const other = otherPlacement(placement);
  const started = new Date();
  const log = (s: string) => process.stderr.write(`[${((Date.now() - started.getTime()) / 1000).toFixed(1)}s] ${s}\n`);
  log(`agentix bench, ${opts.mode} mode, placement ${placement.name}${placement.note ? ` (${placement.note})` : ''}${other ? `, unary also ${other.name}` : ''}`);

  const results: Results = {
    date: started.toISOString(),
    mode: opts.mode,
    machine: machineInfo(placement, other),
    plan,
    transport: [],
    sandbox: { skipped: 'not run (--skip)' },
    tooling: { skipped: 'not run (--skip)' },
    pool: { skipped: 'not run (--skip)' },
    kubernetes: { skipped: 'not run (--skip)' },
    durationS: 0,
  };
  if (!opts.skip.includes('transport')) {
    log('transport: unary, payload, stream, bidi');
    results.transport = await runTransport(plan, { main: placement, other }, opts.only, log);
    results.machine.loadAvg.afterTransport = currentLoad();
  }
  if (!opts.skip.includes('sandbox')) {
    log('sandbox: create → first call');
    results.sandbox = await runSandboxes(plan, log);
  }
  if (!opts.skip.includes('pool')) {
    log('pool: warm claims, claims while refilling');
    results.pool = await runPool(plan, log).catch((err: Error) => ({ error: err.message }));
  }
  if (!opts.skip.includes('kubernetes')) {
    log('kubernetes: stand-in API server, create → ready, API requests per sandbox');
    results.kubernetes = await runKubernetes(plan, log).catch((err: Error) => ({ error: err.message }));
  }
  if (!opts.skip.includes('tooling')) {
    log('tooling: agentix gen / build');
    results.tooling = await runTooling(plan, log);
  }
  results.durationS = Math.round((Date.now() - started.getTime()) / 100) / 10;

  const day = started.toISOString().slice(0, 10);
  mkdirSync(join(opts.out, 'results'), { recursive: true });
  const jsonFile = join(opts.out, 'results', `${day}.json`);
  writeFileSync(jsonFile, JSON.stringify(results, null, 2) + '\n');
  writeReports(results, opts.out, `results/${day}.json`);
  process.stdout.write(renderTable(results));
  log(`wrote ${jsonFile}, ${join(opts.out, 'RESULTS.md')}, ${join(opts.out, 'results', 'chart.svg')} in ${results.durationS} s`);
  if (opts.readme) writeReadme(results);
  return 0;
}

/** README.md's tables from these results; without the markers, says so and prints the tables to paste. */
function writeReadme(results: Results): void {
  const readme = join(REPO_ROOT, 'README.md');
  if (spliceReadme(readme, results)) {
    process.stderr.write(`bench: README.md tables rewritten from this run\n`);
    return;
  }
  process.stderr.write(`bench: README.md has no lines ${README_BEGIN} … ${README_END}; its tables, to paste:\n`);
  process.stdout.write(`${readmeBlock(results)}\n`);
}

/** The fuzz run's section (bench/fuzz.ts --write), kept across runs of this bench. */
const FUZZ_SECTION = join(REPO_ROOT, 'bench', 'results', 'fuzz.md');

function writeReports(results: Results, out: string, jsonPath: string): void {
  mkdirSync(join(out, 'results'), { recursive: true });
  const fuzz = existsSync(FUZZ_SECTION) ? `
${readFileSync(FUZZ_SECTION, 'utf8')}` : '';
  writeFileSync(join(out, 'RESULTS.md'), `${renderMarkdown(results, jsonPath)}
${poolSection(results.pool)}
${kubernetesSection(results.kubernetes)}${fuzz}`);
  writeFileSync(join(out, 'results', 'chart.svg'), renderChart(results));
}

installExitCleanup();
process.exitCode = await main();
