/**
 * Issue 9's fuzz acceptance: at least 100k fuzzed frames from several
 * connections at once (test/support/fuzz/) against a real server of
 * fixtures/fuzz, while one well-behaved RuntimeClient makes a steady stream
 * of calls of all three shapes and checks every answer exactly. At the end:
 * 0 wrong and 0 lost answers on the good connection, no protocol violation
 * seen by the fuzzing connections on the calls they track, the server alive
 * and healthy, its memory and its worker's bounded, and no worker restart
 * (the fuzzer never calls the fixture's harmful functions).
 *
 *   AGENTIX_FUZZ_SEED=…     another seed (default: fixed, so CI is reproducible)
 *   AGENTIX_FUZZ_FRAMES=…   more or fewer frames (bench/fuzz.ts runs 1M)
 *
 * A failure names the seed; the frames of every connection life with a
 * violation are written to a file named in the message, replayable with
 * `node --import tsx bench/fuzz.ts --replay FILE`.
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFuzz, summarize, type FuzzReport } from '../support/fuzz/harness.js';
import { mib } from '../support/fuzz/proc.js';
import { fuzzManifest, serveFuzz } from '../support/fuzz/serve-fuzz.js';
import { loadTargets } from '../support/fuzz/targets.js';
import { repoRoot } from '../support/serve.js';

const SEED = process.env.AGENTIX_FUZZ_SEED || 'issue-9';
const FRAMES = Number(process.env.AGENTIX_FUZZ_FRAMES || 100_000);
const CONNECTIONS = 4;
/** Small, so oversized frames are cheap to make; the bounds scale with it. */
const MAX_PAYLOAD = 256 * 1024;
/** Generous against what a run uses (about 130 MiB server, 400–700 MiB worker here): these catch growth, not noise. */
const SERVER_RSS_LIMIT = 400 * 1024 * 1024;
const WORKER_RSS_LIMIT = 1024 * 1024 * 1024;

test(`${FRAMES} fuzzed frames from ${CONNECTIONS} connections: the good connection gets every answer right, none lost, no worker restart`, async () => {
  const server = await serveFuzz({ AGENTIX_MAX_PAYLOAD: String(MAX_PAYLOAD) });
  let report: FuzzReport | undefined;
  try {
    const dumpDir = join(repoRoot, 'bench/results/tmp/fuzz', SEED);
    report = await runFuzz({
      url: server.url,
      token: server.token,
      seed: SEED,
      frames: FRAMES,
      connections: CONNECTIONS,
      targets: loadTargets(fuzzManifest),
      maxPayload: MAX_PAYLOAD,
      serverPid: server.pid,
      workerLogFile: server.workerLogFile,
      timeLimitMs: 240_000,
      failFast: true,
      dumpDir,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    const summary = summarize(report);
    process.stdout.write(`${summary}\n`);
    const why = `\n${summary}`;
    assert.equal(report.good.wrong, [], `wrong answers on the good connection${why}`);
    assert.equal(report.good.lost, [], `lost answers on the good connection${why}`);
    assert.is(report.restarts, 0, `worker restarts (pids ${report.workerPids.join(', ')})${why}`);
    assert.equal(report.violations, [], `protocol violations on the fuzzing connections${why}`);
    assert.equal(report.internalErrors, [], `the runtime reported failures of its own${why}`);
    assert.not.ok(report.timedOut, `the run hit its time limit${why}`);
    assert.ok(report.frames >= FRAMES, `sent ${report.frames} frames, wanted ${FRAMES}${why}`);
    assert.ok(report.good.calls >= 100, `the good connection made only ${report.good.calls} calls${why}`);
    assert.ok(report.checkedLifetimes > 0 && report.trackedFinals > 1000, `too little was checked${why}`);
    assert.is(server.child.exitCode, null, 'the server process is alive');
    const health = await fetch(new URL('/health', server.url.replace('ws:', 'http:')), { signal: AbortSignal.timeout(5000) });
    assert.is(health.status, 200, '/health answers 200');
    assert.ok(report.memory.serverPeak < SERVER_RSS_LIMIT, `server RSS peaked at ${mib(report.memory.serverPeak)} MiB${why}`);
    assert.ok(report.memory.workerPeak < WORKER_RSS_LIMIT, `worker RSS peaked at ${mib(report.memory.workerPeak)} MiB${why}`);
  } finally {
    await server.stop();
  }
});

test.run();
