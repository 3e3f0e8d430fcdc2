/**
 * `agentix gen [dir] [--out DIR] [--check]`: writes `<dir>/agentix-gen/`
 * (manifest.json, client.ts, schemas.ts) from the project's exported
 * functions and prints what it found. `--check` writes nothing and fails when
 * the files on disk are stale, naming what changed.
 */
import { resolve } from 'node:path';
import { generate, GenError } from '../codegen/index.js';

const USAGE = 'usage: agentix gen [dir] [--out DIR] [--check]';

export async function main(argv: string[]): Promise<number> {
  let dir = '.';
  let outDir: string | undefined;
  let check = false;
  let sawDir = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check') check = true;
    else if (a === '--out' || a.startsWith('--out=')) {
      const v = a === '--out' ? argv[++i] : a.slice('--out='.length);
      if (!v) return usage('--out needs a directory');
      outDir = v;
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else if (a.startsWith('-')) return usage(`unknown option ${a}`);
    else if (sawDir) return usage(`unexpected argument ${a}`);
    else {
      dir = a;
      sawDir = true;
    }
  }
  try {
    // --out is relative to where the user runs the command, like the project dir.
    const result = await generate({ projectDir: dir, outDir: outDir === undefined ? undefined : resolve(outDir), check });
    for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
    if (check && result.stale.length > 0) {
      process.stderr.write(`agentix gen --check: generated files are stale (run \`agentix gen\`):\n`);
      for (const s of result.stale) process.stderr.write(`  ${s}\n`);
      return 1;
    }
    process.stdout.write(result.summary + '\n');
    const verb = check ? 'up to date' : result.stale.length > 0 ? 'written' : 'unchanged';
    process.stdout.write(`\n${result.targets.length} target${result.targets.length === 1 ? '' : 's'}; ${result.outDir} ${verb}\n`);
    return 0;
  } catch (err) {
    if (err instanceof GenError) {
      process.stderr.write(`agentix gen: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function usage(problem: string): number {
  process.stderr.write(`agentix gen: ${problem}\n${USAGE}\n`);
  return 1;
}

// Runnable on its own too: `node --import tsx cli/gen.ts [dir]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
