/**
 * The bash plugin called in-process: real bash, real process groups, real
 * temp dirs. The same behaviour through the runtime is in runtime.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { run, session, stream, type SessionOptions, type SessionResult, type StreamEvent } from '../../plugins/bash/index.js';
import { InboxQueue } from '../../runtime/worker/inbox.js';
import { gone, inCall, readPid, within, withTempDir } from './helpers.js';

/** Kills a pid left behind by a failed test (bounded, ignores "already gone"). */
function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** Open file descriptors of this process (pipes of a child we stopped reading included). */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}


const runs = suite('bash.run');

runs('returns exit code, stdout and stderr', async () => {
  const r = await run('echo hi; echo oops >&2; exit 3');
  assert.is(r.exitCode, 3);
  assert.is(r.stdout, 'hi\n');
  assert.is(r.stderr, 'oops\n');
  assert.is(r.timedOut, false);
  assert.is(r.truncated, false);
  assert.is(r.signal, undefined);
  assert.type(r.durationMs, 'number');
});

runs('runs in cwd with extra env, and is real bash', async () => {
  await withTempDir(async (dir) => {
    const r = await run('pwd; echo "$GREETING"; echo ${BASH_VERSION:+bash}', { cwd: dir, env: { GREETING: 'hello there' } });
    assert.is(r.exitCode, 0);
    assert.is(r.stdout, `${await realpath(dir)}\nhello there\nbash\n`);
  });
});

runs('the runtime token is not passed on to commands', async () => {
  const before = process.env.AGENTIX_TOKEN;
  process.env.AGENTIX_TOKEN = 'secret-token';
  try {
    const r = await run('echo "[${AGENTIX_TOKEN-unset}] [$OTHER]"', { env: { OTHER: 'kept' } });
    assert.is(r.stdout, '[unset] [kept]\n');
  } finally {
    if (before === undefined) delete process.env.AGENTIX_TOKEN;
    else process.env.AGENTIX_TOKEN = before;
  }
});

runs('timeout keeps partial output and kills the whole group', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const r = await run(`sleep 30 & echo $! > ${pidFile}; echo a; sleep 5; echo b`, { timeoutMs: 300 });
    assert.is(r.timedOut, true);
    assert.is(r.stdout, 'a\n');
    assert.is(r.exitCode, null);
    assert.ok(r.signal === 'SIGTERM' || r.signal === 'SIGKILL', `signal ${r.signal}`);
    assert.ok(await gone(await readPid(pidFile)), 'the background sleep survived the timeout');
  });
});

runs('a command that ignores SIGTERM is killed after the grace', async () => {
  const r = await run(`trap '' TERM; echo ready; while :; do sleep 0.05; done`, { timeoutMs: 500 });
  assert.is(r.timedOut, true);
  assert.is(r.stdout, 'ready\n');
  assert.is(r.signal, 'SIGKILL');
});

runs('output beyond maxOutputBytes is dropped and flagged', async () => {
  const r = await run(`head -c 100000 /dev/zero | tr '\\0' x; echo tail >&2`, { maxOutputBytes: 1000 });
  assert.is(r.exitCode, 0);
  assert.is(r.stdout, 'x'.repeat(1000));
  assert.is(r.stderr, 'tail\n');
  assert.is(r.truncated, true);
});

runs('default cap is 1 MiB per stream, and the command still runs to its end', async () => {
  const r = await run(`head -c 3000000 /dev/zero | tr '\\0' y; echo done >&2`);
  assert.is(r.stdout.length, 1024 * 1024);
  assert.is(r.stderr, 'done\n');
  assert.is(r.truncated, true);
  assert.is(r.exitCode, 0);
});

runs('background jobs end with the call, also one holding stdout (bash.spawn is the way to keep one)', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const r = await run(`sleep 30 & echo $! > ${pidFile}; echo started`, { timeoutMs: 10_000 });
    assert.is(r.exitCode, 0);
    assert.is(r.stdout, 'started\n');
    assert.is(r.timedOut, false);
    assert.ok(await gone(await readPid(pidFile)), 'the background sleep outlived bash.run');
  });
});

runs('AbortSignal of the call kills the group and rejects', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const ac = new AbortController();
    const pending = inCall('bash.run', ac.signal, () => run(`sleep 30 & echo $! > ${pidFile}; sleep 30`));
    const pid = await readPid(pidFile);
    ac.abort(Object.assign(new Error('bash.run was cancelled by the caller'), { name: 'AbortError', code: 'CANCELLED' }));
    const err = await pending.then(() => undefined, (e: Error) => e);
    assert.ok(err, 'run resolved after abort');
    assert.is(err!.message, 'bash.run was cancelled by the caller');
    assert.ok(await gone(pid), 'the background sleep survived the abort');
  });
});

runs('bad input gets a clear error', async () => {
  const e1 = await run(42 as unknown as string).catch((e: Error & { code?: string }) => e);
  assert.instance(e1, Error);
  assert.is((e1 as { code?: string }).code, 'EINVAL');
  assert.match((e1 as Error).message, 'the command must be a string');
  const e2 = await run('true', { cwd: '/definitely/not/here' }).catch((e: Error) => e);
  assert.match((e2 as Error).message, 'working directory "/definitely/not/here" does not exist');
  const e3 = await run('true', { timeoutMs: -1 }).catch((e: Error) => e);
  assert.match((e3 as Error).message, 'opts.timeoutMs must be a positive number');
  const e4 = await run('true', { env: { A: 1 as unknown as string } }).catch((e: Error) => e);
  assert.match((e4 as Error).message, 'opts.env.A must be a string');
});

runs('bash.run: a cancel that arrives while bash is starting still kills the group', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const ac = new AbortController();
    const pending = inCall('bash.run', ac.signal, () => run(`sleep 30 & echo $! > ${pidFile}; wait`));
    // Synchronously after the call began: spawnGroup has not resolved yet.
    ac.abort(new Error('cancelled during spawn'));
    const outcome = await within(pending, 5000);
    let pid: number | undefined;
    try {
      pid = await readPid(pidFile, 1000).catch(() => undefined);
      assert.not.ok(outcome.pending, 'bash.run still runs 5 s after its call was cancelled');
      assert.is(outcome.error?.message, 'cancelled during spawn');
      if (pid !== undefined) assert.ok(await gone(pid), 'the background sleep survived the cancel');
    } finally {
      killQuietly(pid);
    }
  });
});

runs('bash.run: a timeoutMs above the largest timer delay is no timeout at all (not 1 ms)', async () => {
  const r = await run('sleep 0.2; echo finished', { timeoutMs: 2 ** 31 });
  assert.is(r.timedOut, false);
  assert.is(r.exitCode, 0);
  assert.is(r.stdout, 'finished\n');
});

runs.run();

const streams = suite('bash.stream');

async function collect(gen: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of gen) out.push(ev);
  return out;
}

streams('yields stdout and stderr in the order they happened, then the exit', async () => {
  const events = await collect(stream('echo 1; sleep 0.1; echo 2 >&2; sleep 0.1; echo 3; sleep 0.1; echo 4 >&2; exit 5'));
  assert.equal(events, [{ stdout: '1\n' }, { stderr: '2\n' }, { stdout: '3\n' }, { stderr: '4\n' }, { exit: 5, timedOut: false }]);
});

streams('a character cut between two writes arrives whole', async () => {
  const events = await collect(stream(`printf '\\303'; sleep 0.1; printf '\\251\\n'`));
  assert.equal(events, [{ stdout: 'é\n' }, { exit: 0, timedOut: false }]);
});

streams('timeout ends with timedOut and the partial output', async () => {
  const events = await collect(stream('echo a; sleep 5; echo b', { timeoutMs: 300 }));
  assert.equal(events[0], { stdout: 'a\n' });
  const last = events[events.length - 1] as { exit: number | null; signal?: string; timedOut: boolean };
  assert.is(events.length, 2);
  assert.is(last.exit, null);
  assert.is(last.timedOut, true);
  assert.is(last.signal, 'SIGTERM');
});

streams('breaking out of the loop kills the group', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    for await (const ev of stream(`sleep 30 & echo $! > ${pidFile}; echo first; wait`)) {
      assert.equal(ev, { stdout: 'first\n' });
      break;
    }
    assert.ok(await gone(await readPid(pidFile)), 'the background sleep survived the break');
  });
});

streams('a slow consumer gets everything, in order', async () => {
  let text = '';
  let exit: StreamEvent | undefined;
  for await (const ev of stream(`for i in $(seq 1 20000); do echo "line $i"; done`)) {
    if ('stdout' in ev) text += ev.stdout;
    else exit = ev;
    await new Promise((r) => setTimeout(r, 1));
  }
  const lines = text.split('\n');
  assert.is(lines.length, 20001);
  assert.is(lines[0], 'line 1');
  assert.is(lines[19999], 'line 20000');
  assert.equal(exit, { exit: 0, timedOut: false });
});

streams('AbortSignal ends the stream with the abort reason and kills the group', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const ac = new AbortController();
    const seen: StreamEvent[] = [];
    const err = await inCall('bash.stream', ac.signal, async () => {
      try {
        for await (const ev of stream(`sleep 30 & echo $! > ${pidFile}; echo go; wait`)) {
          seen.push(ev);
          ac.abort(new Error('stop now'));
        }
      } catch (e) {
        return e as Error;
      }
      return undefined;
    });
    assert.equal(seen, [{ stdout: 'go\n' }]);
    assert.is(err?.message, 'stop now');
    assert.ok(await gone(await readPid(pidFile)), 'the background sleep survived the abort');
  });
});

streams('bash.stream: a cancel that arrives while bash is starting still ends the stream and kills the group', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const ac = new AbortController();
    const events: StreamEvent[] = [];
    // The generator's body runs in the context of its first next(): start it inside the call.
    const drain = inCall('bash.stream', ac.signal, async () => {
      const gen = stream(`sleep 30 & echo $! > ${pidFile}; wait`);
      const first = gen.next();
      ac.abort(new Error('cancelled during spawn'));
      let r = await first;
      while (!r.done) {
        events.push(r.value);
        r = await gen.next();
      }
    });
    const outcome = await within(drain, 5000);
    let pid: number | undefined;
    try {
      pid = await readPid(pidFile, 1000).catch(() => undefined);
      assert.not.ok(outcome.pending, 'bash.stream still runs 5 s after its call was cancelled');
      assert.is(outcome.error?.message, 'cancelled during spawn');
      if (pid !== undefined) assert.ok(await gone(pid), 'the background sleep survived the cancel');
    } finally {
      killQuietly(pid);
    }
  });
});

streams('bash.stream: a slow consumer stays bounded after bash exits while a process that left the group keeps writing', async () => {
  // bash exits while the pipes are paused, and the writer (setsid: not in the group, so not
  // killed with it) goes on; Node resumes a child's pipes on its exit, and the queue then grew
  // at the writer's pace.
  const sizes: number[] = [];
  let pid: number | undefined;
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    try {
      for await (const ev of stream(`setsid -f bash -c 'echo $$ > ${pidFile}; exec yes'; sleep 0.3; exit 0`)) {
        if (!('stdout' in ev)) break;
        sizes.push(ev.stdout.length);
        if (sizes.length === 1) await new Promise((r) => setTimeout(r, 1500)); // meanwhile bash exits
        if (sizes.length === 3) break;
      }
      pid = await readPid(pidFile);
    } finally {
      killQuietly(pid);
    }
  });
  assert.is(sizes.length, 3);
  const largest = Math.max(...sizes);
  assert.ok(largest <= 2 * 1024 * 1024, `one stream item held ${largest} characters: the queue grew past its 1 MiB high-water mark`);
});

streams('bash.stream: ends after bash exits even while a process that left the group keeps writing to a draining consumer', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    let pid: number | undefined;
    let last: StreamEvent | undefined;
    const consume = (async () => {
      // Slow enough for the pipes to be paused and resumed over and over.
      for await (const ev of stream(`setsid -f bash -c 'echo $$ > ${pidFile}; exec yes'; sleep 0.2; exit 7`)) {
        last = ev;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const outcome = await within(consume, 10_000);
      pid = await readPid(pidFile);
      assert.not.ok(outcome.pending, 'bash.stream still streams the background job 10 s after bash exited');
      assert.equal(last, { exit: 7, timedOut: false });
    } finally {
      killQuietly(pid);
      await consume.catch(() => undefined);
    }
  });
});

streams('bash.stream (guard): a slow consumer still gets every byte of a command that exits while the pipes are paused', async () => {
  let total = 0;
  let last: StreamEvent | undefined;
  for await (const ev of stream(`head -c 5000000 /dev/zero | tr '\\0' y`)) {
    if ('stdout' in ev) total += ev.stdout.length;
    last = ev;
    await new Promise((r) => setTimeout(r, 100)); // meanwhile the queue fills, the pipes pause and bash exits
  }
  assert.is(total, 5_000_000);
  assert.equal(last, { exit: 0, timedOut: false });
});

streams('bash.stream: breaking off a paused stream closes its pipes, also ones an escaped process holds', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'escaped.pid');
    const before = openFds();
    let pid: number | undefined;
    try {
      // setsid: the writer leaves the command's process group, so killing the group misses it.
      for await (const ev of stream(`setsid -f bash -c 'echo $$ > ${pidFile}; exec yes'; sleep 30`)) {
        assert.ok('stdout' in ev);
        await new Promise((r) => setTimeout(r, 300)); // more than 1 MiB queues up: the pipes get paused
        break;
      }
      pid = await readPid(pidFile);
      const deadline = Date.now() + 3000;
      while (openFds() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(openFds() <= before, `${openFds() - before} descriptors (the command's pipes) are still open after the break`);
    } finally {
      killQuietly(pid);
    }
  });
});

streams.run();

const sessions = suite('bash.session');

/** Feeds commands one by one, each after the previous result; the whole conversation must end within `ms`. */
async function converse(commands: string[], opts?: SessionOptions, ms = 10_000): Promise<SessionResult[]> {
  const inbox = new InboxQueue<string>(() => undefined);
  const results: SessionResult[] = [];
  const ac = new AbortController();
  const talk = inCall('bash.session', ac.signal, async () => {
    let i = 0;
    if (commands.length > 0) inbox.push(commands[i++]!);
    else inbox.end();
    for await (const r of session(inbox, opts)) {
      results.push(r);
      if (i < commands.length) inbox.push(commands[i++]!);
      else inbox.end();
    }
  });
  const outcome = await within(talk, ms);
  if (outcome.pending) {
    ac.abort(new Error('test gave up')); // ends the session and kills its shell
    await talk.catch(() => undefined);
  }
  assert.not.ok(outcome.pending, `the session hung after ${results.length} result(s): ${JSON.stringify(results)}`);
  if (outcome.error) throw outcome.error;
  return results;
}

sessions('keeps cwd, variables and functions across commands', async () => {
  await withTempDir(async (dir) => {
    const real = await realpath(dir);
    const results = await converse([`cd ${dir}`, 'export FOO=bar; greet() { echo "hi $1"; }', 'pwd; echo $FOO; greet you', 'cd sub 2>/dev/null || echo no sub >&2']);
    assert.equal(results, [
      { command: `cd ${dir}`, stdout: '', stderr: '', exitCode: 0 },
      { command: 'export FOO=bar; greet() { echo "hi $1"; }', stdout: '', stderr: '', exitCode: 0 },
      { command: 'pwd; echo $FOO; greet you', stdout: `${real}\nbar\nhi you\n`, stderr: '', exitCode: 0 },
      { command: 'cd sub 2>/dev/null || echo no sub >&2', stdout: '', stderr: 'no sub\n', exitCode: 0 },
    ]);
  });
});

sessions('frames stdout, stderr and exit code per command', async () => {
  const results = await converse(['echo -n no newline; echo err >&2; false', 'echo $?', 'for i in 1 2; do\n  echo "multi $i"\ndone', 'cat; echo "stdin was empty: $?"']);
  assert.equal(results, [
    { command: 'echo -n no newline; echo err >&2; false', stdout: 'no newline', stderr: 'err\n', exitCode: 1 },
    { command: 'echo $?', stdout: '1\n', stderr: '', exitCode: 0 },
    { command: 'for i in 1 2; do\n  echo "multi $i"\ndone', stdout: 'multi 1\nmulti 2\n', stderr: '', exitCode: 0 },
    { command: 'cat; echo "stdin was empty: $?"', stdout: 'stdin was empty: 0\n', stderr: '', exitCode: 0 },
  ]);
});

sessions('a syntax error is one failed command, not the end of the session', async () => {
  const results = await converse(['echo "unterminated', 'echo still here']);
  assert.is(results.length, 2);
  assert.is(results[0]!.exitCode, 2);
  assert.match(results[0]!.stderr, /unexpected EOF|matching/);
  assert.equal(results[1], { command: 'echo still here', stdout: 'still here\n', stderr: '', exitCode: 0 });
});

sessions('`exit` ends the session after its result', async () => {
  const results = await converse(['echo bye; exit 4', 'echo never']);
  assert.equal(results, [{ command: 'echo bye; exit 4', stdout: 'bye\n', stderr: '', exitCode: 4 }]);
});

sessions('starts in opts.cwd with opts.env', async () => {
  await withTempDir(async (dir) => {
    const results = await converse(['pwd; echo $X'], { cwd: dir, env: { X: 'y' } });
    assert.is(results[0]!.stdout, `${await realpath(dir)}\ny\n`);
  });
});

sessions('ending the inbox ends the shell and its background jobs', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const results = await converse([`sleep 30 >/dev/null 2>&1 & echo $! > ${pidFile}`]);
    assert.is(results[0]!.exitCode, 0);
    assert.ok(await gone(await readPid(pidFile)), 'the background job outlived the session');
  });
});

sessions('AbortSignal during a command kills the group and rejects', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const ac = new AbortController();
    const inbox = new InboxQueue<string>(() => undefined);
    inbox.push(`sleep 30 & echo $! > ${pidFile}; wait`);
    const err = await inCall('bash.session', ac.signal, async () => {
      const gen = session(inbox);
      const first = gen.next();
      const pid = await readPid(pidFile);
      ac.abort(new Error('session cancelled'));
      const e = await first.then(() => undefined, (x: Error) => x);
      return { e, pid };
    });
    assert.is(err.e?.message, 'session cancelled');
    assert.ok(await gone(err.pid), 'the background sleep survived the abort');
  });
});

sessions('AbortSignal while waiting for the next command ends the session', async () => {
  const ac = new AbortController();
  const inbox = new InboxQueue<string>(() => undefined);
  inbox.push('echo one');
  const outcome = await inCall('bash.session', ac.signal, async () => {
    const gen = session(inbox);
    const first = await gen.next();
    const second = gen.next();
    setTimeout(() => ac.abort(new Error('gone')), 50);
    return { first, second: await second.then(() => 'resolved', (e: Error) => e.message) };
  });
  assert.equal(outcome.first.value, { command: 'echo one', stdout: 'one\n', stderr: '', exitCode: 0 });
  assert.is(outcome.second, 'gone');
});

sessions('output of a command is capped, the session goes on', async () => {
  const results = await converse([`head -c 1100000 /dev/zero | tr '\\0' z`, 'echo ok']);
  assert.is(results[0]!.stdout.length, 1024 * 1024);
  assert.is(results[0]!.truncated, true);
  assert.equal(results[1], { command: 'echo ok', stdout: 'ok\n', stderr: '', exitCode: 0 });
});

sessions('bash.session: `continue` in a command gets its result instead of hanging the session', async () => {
  const results = await converse(['continue', 'echo after']);
  assert.equal(results.map((r) => [r.command, r.stdout, r.exitCode]), [['continue', '', 0], ['echo after', 'after\n', 0]]);
});

sessions('bash.session: `continue 2` does not hang either', async () => {
  const results = await converse(['continue 2', 'echo after']);
  assert.equal(results.map((r) => [r.command, r.stdout]), [['continue 2', ''], ['echo after', 'after\n']]);
});

sessions('bash.session: a stray `break` does not end the session', async () => {
  const results = await converse(['for i in 1 2; do echo $i; done; break', 'echo still here']);
  assert.equal(results.map((r) => [r.stdout, r.exitCode]), [['1\n2\n', 0], ['still here\n', 0]]);
});

sessions('bash.session: `set -x` traces the commands only, and stderr stays with its command', async () => {
  const results = await converse(['set -x', 'echo out', 'echo err >&2', 'set +x', 'echo plain >&2']);
  assert.equal(results.map((r) => [r.command, r.stdout, r.exitCode]), [
    ['set -x', '', 0],
    ['echo out', 'out\n', 0],
    ['echo err >&2', '', 0],
    ['set +x', '', 0],
    ['echo plain >&2', '', 0],
  ]);
  assert.is(results[0]!.stderr, '');
  assert.match(results[1]!.stderr, /^\++ echo out\n$/);
  assert.match(results[2]!.stderr, /^\++ echo err\nerr\n$/);
  assert.is(results[4]!.stderr, 'plain\n');
  for (const r of results) assert.not.match(r.stderr, /__agentix|__AGENTIX/, `the session's own machinery leaked into ${JSON.stringify(r)}`);
});

sessions('timeoutMs kills what a command runs and keeps its output; the shell and its state go on', async () => {
  await withTempDir(async (dir) => {
    const results = await converse([`cd ${dir}; X=kept`, 'echo partial; sleep 30; echo after the sleep', 'pwd; echo $X'], { timeoutMs: 600 });
    assert.is(results.length, 3);
    assert.equal(results[0], { command: `cd ${dir}; X=kept`, stdout: '', stderr: '', exitCode: 0 });
    const timed = results[1]!;
    assert.is(timed.timedOut, true);
    // The sleep was killed; bash went on with the rest of the command line, as it does after a killed child.
    assert.is(timed.stdout, 'partial\nafter the sleep\n');
    assert.equal(results[2], { command: 'pwd; echo $X', stdout: `${await realpath(dir)}\nkept\n`, stderr: '', exitCode: 0 });
  });
});

sessions('a command that keeps the shell itself busy past timeoutMs ends the session, with its output', async () => {
  const results = await converse(['echo started; while :; do :; done', 'echo never'], { timeoutMs: 300 });
  assert.equal(results, [{ command: 'echo started; while :; do :; done', stdout: 'started\n', stderr: '', exitCode: null, timedOut: true }]);
});

sessions.run();

const worker = suite('bash: commands end with the worker');

worker('the worker stopped with SIGTERM (how the server stops it) takes its running commands along', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    const plugin = new URL('../../plugins/bash/index.ts', import.meta.url).href;
    // A stand-in for the worker: a Node process serving one bash.run call.
    const script = `import { run } from ${JSON.stringify(plugin)}; await run(${JSON.stringify(`sleep 30 & echo $! > ${pidFile}; sleep 30`)});`;
    const worker = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' });
    let pid: number | undefined;
    try {
      pid = await readPid(pidFile, 10_000);
      const exited = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGTERM');
      assert.not.ok((await within(exited, 5000)).pending, 'the worker did not exit on SIGTERM');
      assert.ok(await gone(pid), 'the command outlived the worker');
    } finally {
      killQuietly(pid);
      worker.kill('SIGKILL');
    }
  });
});

worker.run();
