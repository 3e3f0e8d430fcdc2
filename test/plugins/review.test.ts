/**
 * Regression tests for defects found in a review of the bash and files
 * plugins, called in-process (real bash, real process groups, real temp dirs
 * and fifos). Each test failed before its fix (but the one named "guard",
 * which checks that a fix drops no output); every wait is bounded, so a
 * regression shows as a failed assertion, not as a hung test file.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync } from 'node:fs';
import { lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, session, stream, type SessionResult, type StreamEvent } from '../../plugins/bash/index.js';
import { InboxQueue } from '../../runtime/worker/inbox.js';
import { download, read, upload, write } from '../../plugins/files/index.js';
import { gone, inCall, makeTar, readPid, withTempDir } from './helpers.js';

/** `p`'s outcome, or 'still pending' after `ms` (a hang is a failed assertion, not a stuck test). */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: Error & { code?: string }; pending?: true }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ pending: true }>((resolve) => (timer = setTimeout(() => resolve({ pending: true }), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: Error) => ({ error })), late]);
  } finally {
    clearTimeout(timer);
  }
}

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

async function withEnv<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

const bash = suite('review: bash');

bash('bash.run: a cancel that arrives while bash is starting still kills the group', async () => {
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

bash('bash.stream: a cancel that arrives while bash is starting still ends the stream and kills the group', async () => {
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

bash('bash.stream: a slow consumer stays bounded after bash exits while a background job keeps writing', async () => {
  // bash exits (normally: its background job is left alone) while the pipes are paused;
  // Node resumes a child's pipes on its exit, and the queue then grew at the job's pace.
  const sizes: number[] = [];
  let pid: number | undefined;
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    try {
      for await (const ev of stream(`yes & echo $! > ${pidFile}; sleep 0.3; exit 0`)) {
        if (!('stdout' in ev)) break;
        sizes.push(ev.stdout.length);
        if (sizes.length === 1) await new Promise((r) => setTimeout(r, 1500)); // meanwhile bash exits
        if (sizes.length === 3) break;
      }
      pid = await readPid(pidFile);
      assert.ok(await gone(pid), 'the background yes survived the break');
    } finally {
      killQuietly(pid);
    }
  });
  assert.is(sizes.length, 3);
  const largest = Math.max(...sizes);
  assert.ok(largest <= 2 * 1024 * 1024, `one stream item held ${largest} characters: the queue grew past its 1 MiB high-water mark`);
});

bash('bash.stream: ends after bash exits even while a background job keeps writing to a draining consumer', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'bg.pid');
    let pid: number | undefined;
    let last: StreamEvent | undefined;
    const consume = (async () => {
      // Slow enough for the pipes to be paused and resumed over and over.
      for await (const ev of stream(`yes & echo $! > ${pidFile}; sleep 0.2; exit 7`)) {
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

bash('bash.stream (guard): a slow consumer still gets every byte of a command that exits while the pipes are paused', async () => {
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

bash('bash.stream: breaking off a paused stream closes its pipes, also ones an escaped process holds', async () => {
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

bash('bash.run: a timeoutMs above the largest timer delay is no timeout at all (not 1 ms)', async () => {
  const r = await run('sleep 0.2; echo finished', { timeoutMs: 2 ** 31 });
  assert.is(r.timedOut, false);
  assert.is(r.exitCode, 0);
  assert.is(r.stdout, 'finished\n');
});

/** Feeds commands one by one, each after the previous result; the whole conversation must end within `ms`. */
async function converse(commands: string[], ms = 10_000): Promise<SessionResult[]> {
  const inbox = new InboxQueue<string>(() => undefined);
  const results: SessionResult[] = [];
  const ac = new AbortController();
  const talk = inCall('bash.session', ac.signal, async () => {
    let i = 0;
    inbox.push(commands[i++]!);
    for await (const r of session(inbox)) {
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

bash('bash.session: `continue` in a command gets its result instead of hanging the session', async () => {
  const results = await converse(['continue', 'echo after']);
  assert.equal(results.map((r) => [r.command, r.stdout, r.exitCode]), [['continue', '', 0], ['echo after', 'after\n', 0]]);
});

bash('bash.session: `continue 2` does not hang either', async () => {
  const results = await converse(['continue 2', 'echo after']);
  assert.equal(results.map((r) => [r.command, r.stdout]), [['continue 2', ''], ['echo after', 'after\n']]);
});

bash('bash.session: a stray `break` does not end the session', async () => {
  const results = await converse(['for i in 1 2; do echo $i; done; break', 'echo still here']);
  assert.equal(results.map((r) => [r.stdout, r.exitCode]), [['1\n2\n', 0], ['still here\n', 0]]);
});

bash('bash.session: `set -x` traces the commands only, and stderr stays with its command', async () => {
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

bash('the worker stopped with SIGTERM (how the server stops it) takes its running commands along', async () => {
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

bash.run();

const files = suite('review: files');

/** A fresh files root (AGENTIX_FILES_ROOT) for one test. */
async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  await withTempDir(async (base) => {
    const root = join(base, 'root');
    await mkdir(root);
    await withEnv('AGENTIX_FILES_ROOT', root, () => fn(root));
  });
}

files('files.write to a fifo is refused instead of blocking forever', async () => {
  await withRoot(async (root) => {
    const fifo = join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const outcome = await within(write('pipe', 'x'), 3000);
    if (outcome.pending) {
      // Unblock the stuck open() (a reader appears), so the test process can end.
      closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    }
    assert.not.ok(outcome.pending, 'files.write on a fifo still blocks after 3 s');
    assert.is(outcome.error?.code, 'EINVAL');
    assert.is(outcome.error?.message, 'cannot write "pipe": it is not a regular file');
  });
});

files('files.read of a file over the message limit fails before reading it, naming the file and sizes', async () => {
  await withRoot(async (root) => {
    await writeFile(join(root, 'big.bin'), Buffer.alloc(5000));
    await withEnv('AGENTIX_MAX_PAYLOAD', '4096', async () => {
      const outcome = await within(read('big.bin'), 5000);
      assert.is(outcome.error?.code, 'PAYLOAD_TOO_LARGE', `read returned ${outcome.value?.length} bytes`);
      assert.match(outcome.error!.message, 'file "big.bin" is 5000 bytes');
      assert.match(outcome.error!.message, '4096');
      // At the limit it still works.
      await writeFile(join(root, 'ok.bin'), Buffer.alloc(3000));
      assert.is((await read('ok.bin')).length, 3000);
    });
  });
});

files('files.download of a tree over the message limit fails instead of building it in memory', async () => {
  await withRoot(async (root) => {
    await mkdir(join(root, 'tree'));
    for (let i = 0; i < 10; i++) await writeFile(join(root, 'tree', `f${i}`), Buffer.alloc(2000));
    await withEnv('AGENTIX_MAX_PAYLOAD', '8192', async () => {
      const outcome = await within(download('tree'), 5000);
      assert.is(outcome.error?.code, 'PAYLOAD_TOO_LARGE', `download returned ${outcome.value?.length} bytes`);
      assert.match(outcome.error!.message, 'directory "tree"');
    });
    assert.equal((await readdir(join(root, 'tree'))).length, 10);
  });
});

files('a symlink whose target goes `..` through a symlink leading outside counts by where the kernel takes it', async () => {
  await withTempDir(async (base) => {
    const root = join(base, 'root');
    const outside = join(base, 'outside');
    await mkdir(join(root, 'dst'), { recursive: true });
    await mkdir(join(outside, 'sub'), { recursive: true });
    await writeFile(join(outside, 'secret'), 'top secret');
    // Already in the tree: a symlink that leads outside (say, into a shared cache).
    await symlink(join(outside, 'sub'), join(root, 'door'));
    await symlink(join(outside, 'sub'), join(root, 'dst', 'door'));
    // Lexically "door/../x" is "x", inside; the kernel goes outside/sub/.. = outside.
    await symlink('door/../planted', join(root, 'sneaky'));
    await withEnv('AGENTIX_FILES_ROOT', root, async () => {
      const w = await write('sneaky', 'x').then(() => undefined, (e: Error & { code?: string }) => e);
      assert.is(w?.code, 'EOUTSIDE', 'files.write went through a dangling symlink whose target leads outside');
      const u = await upload('dst', await makeTar([{ name: 'l', type: 'symlink', linkname: 'door/../secret' }])).then(() => undefined, (e: Error & { code?: string }) => e);
      assert.is(u?.code, 'EOUTSIDE', 'files.upload planted a symlink the kernel resolves outside');
      assert.match(u!.message, 'is a symlink to "door/../secret"');
    });
    assert.equal((await readdir(outside)).sort(), ['secret', 'sub']);
    assert.not.ok(await lstat(join(root, 'dst', 'l')).catch(() => undefined), 'the symlink was created');
    assert.not.ok(await lstat(join(root, 'planted')).catch(() => undefined), 'a file was written at the lexical place');
  });
});

files('an upload never deletes a non-empty directory to put a file in its place; an empty one may go', async () => {
  await withRoot(async (root) => {
    await mkdir(join(root, 'keep', 'sub'), { recursive: true });
    await writeFile(join(root, 'keep', 'sub', 'precious.txt'), 'data');
    await mkdir(join(root, 'empty'));
    const err = (await upload('.', await makeTar([{ name: 'keep', data: 'a file now' }])).catch((e) => e)) as Error & { code?: string };
    assert.is(err.code, 'EEXIST');
    assert.match(err.message, /non-empty directory/);
    assert.ok((await lstat(join(root, 'keep', 'sub', 'precious.txt'))).isFile(), 'the tree is still there');
    await upload('.', await makeTar([{ name: 'empty', data: 'was an empty dir' }]));
    assert.ok((await lstat(join(root, 'empty'))).isFile());
  });
});

files.run();

