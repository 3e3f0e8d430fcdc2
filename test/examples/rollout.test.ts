/**
 * The rollout example end to end against the real Docker engine: the agent
 * bundle built, one busybox task image per task, every task in its own
 * sandbox four at a time. Checks what a user of the example reads off the
 * score table (every task scored, the good ones passed, the wrong answer
 * failed, the crash and the hang named as such) and that the run leaves
 * nothing behind: no sandbox, no task image, no bundle tag, no carrier of a
 * bundle image that is gone. Then the same tasks on the local deployment
 * (no engine needed), and the command line.
 *
 * No engine: the Docker suite is skipped with the reason printed (CI=true: fails).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { removeBundleImage, removeTaskImages, TASK_LABEL } from '../../examples/rollout/images.js';
import { LOCAL_WORK_DIR, main, parseArgs, rollout, RUN_LABEL, type RolloutReport } from '../../examples/rollout/run.js';
import { loadTasks } from '../../examples/rollout/tasks.js';
import { statusOf } from '../../deploy/docker.js';
import { containersWith, engineOrSkip } from '../support/docker.js';

const docker = await engineOrSkip('rollout example');
const test = suite('rollout example (docker)');

/** What each fixture task is there to show. */
const EXPECTED: Record<string, string> = {
  'column-sum': 'passed',
  greeting: 'passed',
  'top-scores': 'passed',
  fizzbuzz: 'failed',
  'line-endings': 'crashed',
  'log-search': 'timed out',
};
/** Short, so the hanging task does not dominate the file's run time; ample for the others (a few calls each). */
const TASK_TIMEOUT_MS = 8_000;

if (docker) {
  const bundleTag = `agentix-rollout-agent:test-${process.pid}-${randomBytes(3).toString('hex')}`;
  let outcome: RolloutReport | Error | undefined;
  let bundleId: string | undefined;
  const printed: string[] = [];
  /** The run's report; a run that threw fails every test with its error (uvu would swallow a throwing before hook). */
  const ran = (): RolloutReport => {
    if (outcome instanceof Error) throw outcome;
    assert.ok(outcome, 'the rollout did not run');
    return outcome;
  };

  test.before(async () => {
    try {
      outcome = await rollout({ concurrency: 4, taskTimeoutMs: TASK_TIMEOUT_MS, bundleTag, print: (l) => printed.push(l) });
      bundleId = (await docker.getImage(bundleTag).inspect()).Id;
    } catch (err) {
      outcome = err as Error;
    } finally {
      process.stdout.write(printed.flatMap((l) => l.split('\n')).map((l) => `    ${l}\n`).join(''));
    }
  });

  test.after(async () => {
    // also when an assertion failed or the run threw halfway
    await removeTaskImages(docker, Object.keys(EXPECTED));
    await removeBundleImage(docker, bundleTag);
  });

  test('every task is scored, and scored as what it is there to show', () => {
    const report = ran();
    const results = Object.fromEntries(report.rows.map((r) => [r.task, r.result]));
    assert.equal(results, EXPECTED);
    assert.is(report.errors, 0);
  });

  test('the fixture set is the one this test knows', () => {
    assert.equal(loadTasks().map((t) => t.name).sort(), Object.keys(EXPECTED).sort());
  });

  test('the crash and the hang rows say what happened', () => {
    const row = (name: string) => ran().rows.find((r) => r.task === name)!;
    assert.match(row('line-endings').detail, /^normalize cities\.csv: worker exited with code 3/);
    assert.match(row('log-search').detail, /^grep .* was still running when the time was up/);
    assert.match(row('fizzbuzz').detail, /^check exited 1: FAIL: fizzbuzz\.sh output differs/);
  });

  test('the agent acted through the plugins and its own functions', () => {
    const greeting = ran().rows.find((r) => r.task === 'greeting')!;
    assert.equal(
      greeting.trajectory.map((s) => [s.action.do, s.ok]),
      [['list', true], ['run', true], ['read', true], ['edit', true]],
    );
    assert.match(greeting.trajectory[1]!.observation, /^exit 1: FAIL: expected 'Hello, world!', got 'Helo, world!'/);
  });

  test('the score table lists every task and the wall time', () => {
    ran();
    const text = printed.join('\n');
    for (const [task, result] of Object.entries(EXPECTED)) assert.match(text, new RegExp(`^${task}\\s+${result}\\s`, 'm'));
    assert.match(text, /^6 tasks: 3 passed, 1 failed, 1 crashed, 1 timed out; wall time \d+\.\d s/m);
  });

  test('no sandbox of the run is left', async () => {
    assert.equal(await containersWith(docker, `${RUN_LABEL}=${ran().runId}`), []);
  });

  test('cleaning up removes the task images, the bundle tag and its carrier', async () => {
    await removeTaskImages(docker, Object.keys(EXPECTED));
    await removeBundleImage(docker, bundleTag);
    const images = await docker.listImages({ filters: { label: [TASK_LABEL] } });
    assert.equal(images.filter((i) => Object.keys(EXPECTED).includes(i.Labels?.[TASK_LABEL] ?? '')), []);
    const tag = await docker.getImage(bundleTag).inspect().then(() => 'still there', (err) => statusOf(err));
    assert.is(tag, 404, `bundle tag ${bundleTag}`);
    // another tag of the same (deterministic) image keeps the image and its carrier, rightly; otherwise both are gone
    if (!bundleId) return;
    const image = await docker.getImage(bundleId).inspect().catch(() => undefined);
    if (!image) assert.equal(await containersWith(docker, `agentix.bundle-id=${bundleId}`), []);
  });
} else {
  test.skip('the rollout example (no Docker engine)', () => {});
}

test.run();

const local = suite('rollout example (local deployment, no Docker)');

local('the same tasks score the same with the runtime as a host process, and their copies are removed', async () => {
  const before = existsSync(LOCAL_WORK_DIR) ? readdirSync(LOCAL_WORK_DIR) : [];
  const report = await rollout({ deployment: 'local', concurrency: 3, taskTimeoutMs: 5_000, print: () => undefined });
  assert.equal(Object.fromEntries(report.rows.map((r) => [r.task, r.result])), EXPECTED);
  assert.equal(existsSync(LOCAL_WORK_DIR) ? readdirSync(LOCAL_WORK_DIR) : [], before);
});

local.run();

const cli = suite('rollout example: command line');

cli('options are parsed, bad ones named', () => {
  assert.equal(parseArgs(['-j', '2', '--timeout=1.5', '--only', 'greeting,fizzbuzz', '--deployment', 'local', '--clean']), {
    concurrency: 2,
    taskTimeoutMs: 1500,
    only: ['greeting', 'fizzbuzz'],
    deployment: 'local',
    clean: true,
  });
  assert.is(parseArgs(['--concurrency', '0']), '--concurrency needs a whole number ≥ 1, got "0"');
  assert.is(parseArgs(['--deployment', 'k8s']), '--deployment must be docker or local, got "k8s"');
  assert.is(parseArgs(['--frobnicate']), 'unknown argument --frobnicate');
});

cli('a bad command line exits 2 before touching anything', async () => {
  const write = process.stderr.write;
  let said = '';
  process.stderr.write = ((chunk: string) => ((said += chunk), true)) as typeof process.stderr.write;
  try {
    assert.is(await main(['--timeout', 'soon']), 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(said, /--timeout needs a number of seconds > 0, got "soon"/);
});

cli.run();
