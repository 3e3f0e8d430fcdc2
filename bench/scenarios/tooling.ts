/**
 * Scenario 5: the CLI's own cost. `agentix gen` cold (a fresh node process
 * each time) on the bench project, on a generated project, and on the corpus
 * of functions re-exported from real npm packages (fixtures/codegen/corpus,
 * the compiler's hardest everyday case: hundreds of declaration files and
 * Node's typings); each with the process's peak RSS. `agentix build` cold and
 * after a one-line change; the bundle image's size. Each run works on a temp
 * copy, removed afterwards.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeGeneratedProject } from '../lib/gen-project.js';
import { TSX_ARGS } from '../lib/node-args.js';
import type { Plan } from '../lib/plan.js';
import { runToEnd } from '../lib/process.js';
import { BENCH_PROJECT, REPO_ROOT, tempDir, writeProjectTsconfig } from '../lib/project-copy.js';
import { median, round } from '../lib/stats.js';
import type { GenTimes, ToolingFigures } from '../report/types.js';
import { briefError } from '../lib/errors.js';

const pexec = promisify(execFile);
const CORPUS = join(REPO_ROOT, 'fixtures/codegen/corpus');
/** Cold gen runs are cheap: at least this many, for a median worth the name. */
const MIN_GEN_RUNS = 3;
/**
 * Preloaded into the gen process, printed on exit for the bench to read: its
 * peak RSS (KiB) and, where /proc has it, the CPU time of its main thread
 * (clock ticks), which is what the wall time would be on an idle machine — on
 * a shared one the wall time also counts waiting for a core.
 */
const PROBE = 'import{readFileSync}from"node:fs";process.on("exit",()=>{let t="";try{const f=readFileSync("/proc/self/task/"+process.pid+"/stat","utf8").split(") ")[1].split(" ");t=" "+(Number(f[11])+Number(f[12]))}catch{}'
  + 'process.stderr.write("\\nagentix-bench-probe "+process.resourceUsage().maxRSS+t+"\\n")})';
const PROBE_ARG = `--import=data:text/javascript,${encodeURIComponent(PROBE)}`;
/** Linux reports thread CPU times in clock ticks of 1/100 s (USER_HZ). */
const TICK_MS = 10;
const BUILD_TAG = 'agentix-bench-build:latest';
const GEN_TIMEOUT_MS = 120_000;
const BUILD_TIMEOUT_MS = 600_000;

/** The CLI as a user would run it: the built one when there is a build, else the source under tsx. */
function cliCommand(): { argv: string[]; label: string } {
  const built = join(REPO_ROOT, 'dist/cli/main.js');
  if (existsSync(built)) return { argv: [process.execPath, built], label: 'dist/cli/main.js (built)' };
  return { argv: [process.execPath, ...TSX_ARGS, join(REPO_ROOT, 'cli/main.ts')], label: 'cli/main.ts via tsx (no dist/ build)' };
}

export async function runTooling(plan: Plan, log: (s: string) => void): Promise<ToolingFigures> {
  const cli = cliCommand();
  const out: ToolingFigures = { cli: cli.label };
  const runs = plan.toolRuns;

  const genTimes = async (projectDir: string): Promise<GenTimes> => {
    const times: number[] = [];
    const rss: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < Math.max(runs, MIN_GEN_RUNS); i++) {
      rmSync(join(projectDir, 'agentix-gen'), { recursive: true, force: true });
      rmSync(join(projectDir, '.agentix'), { recursive: true, force: true });
      const [node, ...rest] = cli.argv;
      const r = await runToEnd([node!, PROBE_ARG, ...rest, 'gen', projectDir], { cwd: projectDir, timeoutMs: GEN_TIMEOUT_MS });
      if (r.code !== 0) throw new Error(`agentix gen ${r.timedOut ? 'timed out' : `exited ${r.code}`}: ${lastLine(r.stderr || r.stdout)}`);
      times.push(round(r.ms));
      const probe = /agentix-bench-probe (\d+)(?: (\d+))?/.exec(r.stderr);
      if (probe) rss.push(round(Number(probe[1]) / 1024));
      if (probe?.[2]) cpu.push(Number(probe[2]) * TICK_MS);
    }
    return {
      coldMs: round(median(times)), runs: times,
      ...(rss.length ? { peakRssMiB: round(median(rss)) } : {}),
      ...(cpu.length ? { mainThreadCpuMs: round(median(cpu)) } : {}),
    };
  };

  const bench = tempDir('gen');
  try {
    log('  agentix gen on the bench project');
    cpSync(join(BENCH_PROJECT, 'src'), join(bench.dir, 'src'), { recursive: true });
    cpSync(join(BENCH_PROJECT, 'package.json'), join(bench.dir, 'package.json'));
    writeProjectTsconfig(bench.dir);
    out.genBench = await genTimes(bench.dir);
  } catch (err) {
    out.genBench = { error: briefError(err) };
  } finally {
    bench.remove();
  }

  const large = tempDir('gen-large');
  try {
    log(`  agentix gen on a generated project of ${plan.genFunctions} functions`);
    writeGeneratedProject(large.dir, plan.genFunctions);
    out.genLarge = { functions: plan.genFunctions, ...(await genTimes(large.dir)) };
  } catch (err) {
    out.genLarge = { error: briefError(err) };
  } finally {
    large.remove();
  }

  const corpus = tempDir('gen-corpus');
  try {
    // Inside this checkout, so the packages resolve from its node_modules as a user's would from theirs.
    cpSync(join(CORPUS, 'src'), join(corpus.dir, 'src'), { recursive: true });
    cpSync(join(CORPUS, 'package.json'), join(corpus.dir, 'package.json'));
    const source = readFileSync(join(CORPUS, 'src/index.ts'), 'utf8');
    const functions = [...source.matchAll(/export \{([^}]*)\}/g)].reduce((n, m) => n + m[1]!.split(',').filter((x) => x.trim()).length, 0);
    const packages = new Set([...source.matchAll(/from '((?:@[^/']+\/)?[^/']+)/g)].map((m) => m[1])).size;
    log(`  agentix gen on the corpus: ${functions} functions re-exported from ${packages} npm packages`);
    out.genCorpus = { functions, packages, ...(await genTimes(corpus.dir)) };
  } catch (err) {
    out.genCorpus = { error: briefError(err) };
  } finally {
    corpus.remove();
  }

  if (plan.mode === 'smoke') {
    out.buildCold = out.buildWarm = out.imageBytes = { skipped: 'smoke mode' };
    return out;
  }
  await measureBuild(cli.argv, out, log);
  return out;
}

async function measureBuild(cli: string[], out: ToolingFigures, log: (s: string) => void): Promise<void> {
  const engine = await pexec('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 }).then(() => true, () => false);
  const work = tempDir('build');
  const projectDir = join(work.dir, 'project');
  const archive = join(work.dir, 'bundle.tar');
  const built: string[] = [];
  try {
    cpSync(join(BENCH_PROJECT, 'src'), join(projectDir, 'src'), { recursive: true });
    cpSync(join(BENCH_PROJECT, 'package.json'), join(projectDir, 'package.json'));
    writeProjectTsconfig(projectDir);
    // Without an engine the image is written as a docker-archive file instead of loaded.
    const args = [...cli, 'build', projectDir, '--tag', BUILD_TAG, ...(engine ? [] : ['--out', archive])];
    const build = async (what: string) => {
      log(`  agentix build, ${what}${engine ? '' : ' (no engine: --out archive)'}`);
      const r = await runToEnd(args, { cwd: projectDir, timeoutMs: BUILD_TIMEOUT_MS });
      if (r.code !== 0) throw new Error(`agentix build ${r.timedOut ? 'timed out' : `exited ${r.code}`}: ${lastLine(r.stderr || r.stdout)}`);
      // The rebuild moves the tag: remember every image built, so none is left behind untagged.
      if (engine) built.push((await pexec('docker', ['image', 'inspect', '--format', '{{.Id}}', BUILD_TAG], { timeout: 15_000 })).stdout.trim());
      return round(r.ms);
    };
    try {
      out.buildCold = { ms: await build('cold') };
    } catch (err) {
      out.buildCold = { error: briefError(err) };
      out.buildWarm = { skipped: 'cold build failed' };
      out.imageBytes = { skipped: 'cold build failed' };
      return;
    }
    try {
      appendFileSync(join(projectDir, 'src/index.ts'), `\n// one-line change ${Date.now()}\n`);
      out.buildWarm = { ms: await build('after a one-line change'), change: 'a comment line appended to src/index.ts' };
    } catch (err) {
      out.buildWarm = { error: briefError(err) };
    }
    try {
      out.imageBytes = engine
        ? Number((await pexec('docker', ['image', 'inspect', '--format', '{{.Size}}', BUILD_TAG], { timeout: 15_000 })).stdout.trim())
        : statSync(archive).size;
    } catch (err) {
      out.imageBytes = { error: briefError(err) };
    }
  } finally {
    work.remove();
    if (engine) {
      await pexec('docker', ['image', 'rm', '-f', BUILD_TAG], { timeout: 30_000 }).catch(() => {});
      for (const id of new Set(built)) await pexec('docker', ['image', 'rm', '-f', id], { timeout: 30_000 }).catch(() => {});
    }
  }
}

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '(no output)';
