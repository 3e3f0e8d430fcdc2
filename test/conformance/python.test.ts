/**
 * The Python client of docs/conformance/replay.py (standard library only,
 * written from docs/protocol.md) replays every transcript against real
 * `agentix serve` processes it starts itself; one test per transcript reports
 * its verdict. Skipped, loudly, where python3 is not installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cliEntry, repoRoot } from '../support/serve.js';
import { loadTranscripts } from './transcript.js';
import { testName } from './test-name.js';

const replayPy = join(repoRoot, 'docs/conformance/replay.py');
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const transcripts = loadTranscripts(join(repoRoot, 'docs/conformance'));

const py = suite('docs/conformance/replay.py (Python, standard library only)');

if (python.error || python.status !== 0) {
  process.stderr.write(`\n!!! python3 is not installed: the Python conformance client was NOT run (${python.error?.message ?? python.stderr})\n\n`);
  py.skip('the Python client replays every transcript (python3 missing)', () => undefined);
} else {
  py('its matcher cannot pass vacuously (replay.py --self-test)', () => {
    const r = spawnSync('python3', [replayPy, '--self-test'], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /self-test: 0 failed/);
  });

  const dir = mkdtempSync(join(tmpdir(), 'agentix-conformance-py-'));
  const report = join(dir, 'results.json');
  const serveCommand = [process.execPath, '--import', 'tsx', cliEntry, 'serve', join(repoRoot, 'fixtures/conformance'), '--port', '0', '--host', '127.0.0.1', '--no-gen'];
  const run = spawnSync('python3', [replayPy, '--serve', serveCommand.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' '), '--json', report], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 600_000,
  });
  let results: { name: string; status: 'pass' | 'fail' | 'skip'; message: string }[] = [];
  try {
    results = JSON.parse(readFileSync(report, 'utf8'));
  } catch {
    // reported by the test below
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  py('replay.py ran to the end and wrote its report', () => {
    assert.ok(results.length > 0, `replay.py exited ${run.status ?? run.signal}:\n${run.stdout}\n${run.stderr}`);
  });
  for (const t of transcripts) {
    py(testName(t), () => {
      const r = results.find((x) => x.name === t.name);
      assert.ok(r, `replay.py did not report ${t.name}`);
      assert.is(r.status, 'pass', r.message);
    });
  }
}

py.run();
