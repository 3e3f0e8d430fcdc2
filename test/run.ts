/**
 * `npm test`: runs every `test/**\/*.test.ts` file in its own Node process
 * (uvu inside), so one file's crash or leaked handle cannot hide another's
 * results, and ends with the one line CI reads: `N passed, N failed, N skipped`.
 *
 *   npm test                 every file
 *   npm test -- runtime      only files whose path contains "runtime"
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const FILE_TIMEOUT_MS = Number(process.env.AGENTIX_TEST_FILE_TIMEOUT_MS ?? 600_000);
const filters = process.argv.slice(2);

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

interface FileResult { file: string; passed: number; failed: number; skipped: number; note?: string }

function runFile(file: string): Promise<FileResult> {
  const rel = relative(root, file);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? NaN);
      const total = num('Total'), passed = num('Passed'), skipped = num('Skipped');
      if (Number.isNaN(total)) {
        resolve({ file: rel, passed: 0, failed: 1, skipped: 0, note: signal ? `killed by ${signal} (timeout ${FILE_TIMEOUT_MS} ms?)` : `exited ${code} without a summary` });
        return;
      }
      // uvu's Total counts the tests that ran; skipped ones come on top.
      let failed = total - passed;
      // A file that reported all green but then exited non-zero (a crash after the run, a leaked rejection) is a failure too.
      let note: string | undefined;
      if (failed === 0 && code !== 0) { failed = 1; note = `exited ${code ?? signal} after its tests`; }
      resolve({ file: rel, passed, failed, skipped, note });
    });
  });
}

const files = findTests(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
const results: FileResult[] = [];
for (const file of files) {
  process.stdout.write(`\n# ${relative(root, file)}\n`);
  results.push(await runFile(file));
}

const sum = (k: 'passed' | 'failed' | 'skipped') => results.reduce((n, r) => n + r[k], 0);
process.stdout.write('\n');
for (const r of results) {
  const mark = r.failed > 0 ? 'FAIL' : 'ok  ';
  process.stdout.write(`${mark} ${r.file}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.note ? ` (${r.note})` : ''}\n`);
}
process.stdout.write(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped\n`);
process.exitCode = sum('failed') > 0 || files.length === 0 ? 1 : 0;
