/**
 * The bash and files plugins through a real runtime: the same test bodies
 * for every place a runtime can run. `runtime.test.ts` runs them against
 * `agentix serve` on the host; the Docker tests run them against a sandbox
 * made from a busybox or an empty task image.
 *
 *   pluginSuite('plugins (docker, busybox)', async () => {
 *     const sandbox = await deployment.create(config);
 *     const client = await RuntimeClient.connect(sandbox);
 *     return { client, cleanup: async () => { await client.close(); await deployment.delete(sandbox.id); } };
 *   }).run();
 *
 * What the sandbox must offer: the bundle's bash, and `sleep` (fractions
 * too), `rm` and `ln` on the PATH (the bundle's tools count), /proc (to
 * see that killed processes are gone), and a writable temp dir (bash.spawn's
 * keeper puts its socket there). The files root must be the runtime's working directory (the
 * default: AGENTIX_FILES_ROOT unset). Everything else uses bash builtins.
 * All the tests do their work in one scratch directory under the files root,
 * removed at the end.
 */
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { extract } from 'tar-stream';
import { RemoteError, type RuntimeClient } from '../../index.js';
import { makeTar } from './helpers.js';

export interface Connected {
  client: RuntimeClient;
  /** Closes the client and removes whatever connect() made (server, sandbox). */
  cleanup: () => Promise<void>;
}

interface Ctx {
  conn?: Connected;
  /** The scratch dir, relative to the files root (= the runtime's working directory). */
  dir: string;
  /** Its absolute path in the sandbox. */
  abs: string;
  /** The files root (`pwd -P` of the runtime). */
  root: string;
}

type RunResult = { exitCode: number | null; signal?: string; stdout: string; stderr: string; timedOut: boolean; truncated: boolean; durationMs: number };
type StreamEvent = { stdout: string } | { stderr: string } | { exit: number | null; signal?: string; timedOut: boolean };
type SessionResult = { command: string; stdout: string; stderr: string; exitCode: number | null; truncated?: boolean; timedOut?: boolean };
type DirEntry = { name: string; type: string; size: number; mode: number; mtimeMs: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function pluginSuite(name: string, connect: () => Promise<Connected>): Test<Ctx> {
  const test = suite<Ctx>(name, { dir: '', abs: '', root: '' });
  const client = (ctx: Ctx) => ctx.conn!.client;
  const run = (ctx: Ctx, command: string, opts: Record<string, unknown> = {}) =>
    client(ctx).call<RunResult>('bash.run', [command, { cwd: ctx.dir, ...opts }], { timeoutMs: 30_000 });

  /** Polls the sandbox (bounded) until the pid in `file` is gone or a zombie; returns whether it is. */
  const goneInSandbox = async (ctx: Ctx, pid: number, withinMs = 5000): Promise<boolean> => {
    const probe = `l=; read -r l < /proc/${pid}/stat 2>/dev/null || { echo gone; exit; }; l=\${l##*) }; echo "\${l%% *}"`;
    const deadline = Date.now() + withinMs;
    for (;;) {
      const state = (await run(ctx, probe)).stdout.trim();
      if (state === 'gone' || state === 'Z' || state === 'X') return true;
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
  };
  /** Reads a pid a command wrote into the scratch dir (bounded wait for it to appear). */
  const pidFrom = async (ctx: Ctx, file: string, withinMs = 5000): Promise<number> => {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const text = await client(ctx).call<Uint8Array>('files.read', [`${ctx.dir}/${file}`]).then((b) => Buffer.from(b).toString(), () => '');
      if (/^\d+\n/.test(text)) return Number(text.trim());
      if (Date.now() > deadline) throw new Error(`no pid in ${file} after ${withinMs} ms`);
      await sleep(20);
    }
  };
  const rejection = async (p: Promise<unknown>): Promise<RemoteError> => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    assert.instance(err, RemoteError, `expected a RemoteError, got ${String(err)}`);
    return err as RemoteError;
  };

  test.before(async (ctx) => {
    try {
      ctx.conn = await connect();
      ctx.dir = `agentix-plugin-test-${Math.random().toString(36).slice(2, 10)}`;
      await client(ctx).call('files.write', [`${ctx.dir}/.keep`, '', { mkdirs: true }]);
      ctx.root = (await client(ctx).call<RunResult>('bash.run', ['pwd -P'])).stdout.trim();
      ctx.abs = ctx.root === '/' ? `/${ctx.dir}` : `${ctx.root}/${ctx.dir}`;
    } catch (err) {
      // uvu counts a failed before hook against every test but does not say why.
      process.stderr.write(`${name}: setup failed: ${(err as Error).stack ?? String(err)}\n`);
      // Whether uvu still runs `after` then is not promised: clean up here.
      const conn = ctx.conn;
      ctx.conn = undefined;
      await conn?.cleanup().catch(() => undefined);
      throw err;
    }
  });
  test.after(async (ctx) => {
    if (!ctx.conn) return;
    try {
      if (ctx.dir) await run(ctx, `cd / && rm -rf '${ctx.abs}'`).catch(() => undefined);
    } finally {
      await ctx.conn.cleanup();
    }
  });

  // ---- bash.run ----

  test('bash.run: exit code, stdout and stderr come back', async (ctx) => {
    const r = await run(ctx, 'echo out; echo err >&2; exit 7');
    assert.is(r.exitCode, 7);
    assert.is(r.stdout, 'out\n');
    assert.is(r.stderr, 'err\n');
    assert.is(r.timedOut, false);
    assert.is(r.truncated, false);
  });

  test('bash.run: cwd and env apply', async (ctx) => {
    const r = await run(ctx, 'pwd -P; echo "$WHO"; echo ${BASH_VERSION:+is bash}', { env: { WHO: 'agentix' } });
    assert.is(r.stdout, `${ctx.abs}\nagentix\nis bash\n`);
  });

  test('bash.run: the bundle tools are on PATH, the runtime token is not in the environment', async (ctx) => {
    const r = await run(ctx, `if [ -d /nix/runtime/bin ]; then case ":$PATH:" in *:/nix/runtime/bin:*) echo on-path;; *) echo missing;; esac; else echo no-bundle; fi; echo "\${AGENTIX_TOKEN-unset}"`);
    assert.ok(/^(on-path|no-bundle)\n/.test(r.stdout), `PATH check: ${r.stdout}`);
    assert.is(r.stdout.split('\n')[1], 'unset');
  });

  test('bash.run: timeoutMs keeps the partial output and kills the whole group', async (ctx) => {
    const r = await run(ctx, 'sleep 30 & echo $! > bg.pid; echo a; sleep 5; echo b', { timeoutMs: 300 });
    assert.is(r.timedOut, true);
    assert.is(r.stdout, 'a\n');
    assert.is(r.exitCode, null);
    assert.ok(await goneInSandbox(ctx, await pidFrom(ctx, 'bg.pid')), 'the background sleep survived the timeout');
  });

  test('bash.run: output beyond maxOutputBytes is dropped', async (ctx) => {
    const r = await run(ctx, `printf '%*s' 100000 ''; echo end >&2`, { maxOutputBytes: 1000 });
    assert.is(r.stdout, ' '.repeat(1000));
    assert.is(r.stderr, 'end\n');
    assert.is(r.truncated, true);
    assert.is(r.exitCode, 0);
  });

  test('bash.run: cancelling the call from the host kills the group', async (ctx) => {
    const ac = new AbortController();
    const pending = client(ctx).call('bash.run', ['sleep 30 & echo $! > cancel.pid; sleep 30', { cwd: ctx.dir }], { signal: ac.signal });
    const pid = await pidFrom(ctx, 'cancel.pid');
    ac.abort();
    const err = await rejection(pending);
    assert.is(err.code, 'CANCELLED');
    assert.ok(await goneInSandbox(ctx, pid), 'the background sleep survived the cancel');
  });

  test('bash.run: the call deadline kills the group', async (ctx) => {
    const pending = client(ctx).call('bash.run', ['sleep 30 & echo $! > deadline.pid; sleep 30', { cwd: ctx.dir }], { timeoutMs: 1500 });
    const pid = await pidFrom(ctx, 'deadline.pid');
    const err = await rejection(pending);
    assert.is(err.code, 'DEADLINE_EXCEEDED');
    assert.ok(await goneInSandbox(ctx, pid), 'the background sleep survived the deadline');
  });

  test('bash.run: bad arguments are INVALID_ARGUMENT', async (ctx) => {
    const err = await rejection(client(ctx).call('bash.run', [42]));
    assert.is(err.code, 'INVALID_ARGUMENT');
  });

  // ---- bash.stream ----

  test('bash.stream: stdout and stderr in the order they happened, then the exit', async (ctx) => {
    const events: StreamEvent[] = [];
    for await (const ev of client(ctx).stream<StreamEvent>('bash.stream', ['echo 1; sleep 0.2; echo 2 >&2; sleep 0.2; echo 3; exit 4'])) events.push(ev);
    assert.equal(events, [{ stdout: '1\n' }, { stderr: '2\n' }, { stdout: '3\n' }, { exit: 4, timedOut: false }]);
  });

  test('bash.stream: breaking out of the loop kills the group', async (ctx) => {
    for await (const ev of client(ctx).stream<StreamEvent>('bash.stream', ['sleep 30 & echo $! > stream.pid; echo first; wait', { cwd: ctx.dir }])) {
      assert.equal(ev, { stdout: 'first\n' });
      break;
    }
    assert.ok(await goneInSandbox(ctx, await pidFrom(ctx, 'stream.pid')), 'the background sleep survived the break');
  });

  test('bash.stream: a slow consumer with little credit still gets every line, in order', async (ctx) => {
    let text = '';
    let last: StreamEvent | undefined;
    const command = 'for ((i = 1; i <= 5000; i++)); do echo "line $i"; done';
    for await (const ev of client(ctx).stream<StreamEvent>('bash.stream', [command], { credit: 2 })) {
      if ('stdout' in ev) text += ev.stdout;
      else last = ev;
      await sleep(2);
    }
    const lines = text.split('\n');
    assert.is(lines.length, 5001);
    assert.is(lines[4999], 'line 5000');
    assert.equal(last, { exit: 0, timedOut: false });
  });

  // ---- bash.session ----

  test('bash.session: state persists, each command is framed, closing the inbox ends it', async (ctx) => {
    await client(ctx).call('files.write', [`${ctx.dir}/sub/.keep`, '', { mkdirs: true }]);
    const sh = client(ctx).bidi<string, SessionResult>('bash.session', [{ cwd: ctx.dir }]);
    const it = sh[Symbol.asyncIterator]();
    await sh.send('cd sub; export V=42');
    assert.equal((await it.next()).value, { command: 'cd sub; export V=42', stdout: '', stderr: '', exitCode: 0 });
    await sh.send('pwd -P; echo "V=$V" >&2; false');
    assert.equal((await it.next()).value, { command: 'pwd -P; echo "V=$V" >&2; false', stdout: `${ctx.abs}/sub\n`, stderr: 'V=42\n', exitCode: 1 });
    await sh.send('echo $?');
    assert.equal((await it.next()).value, { command: 'echo $?', stdout: '1\n', stderr: '', exitCode: 0 });
    sh.close();
    assert.is((await it.next()).done, true);
  });

  test('bash.session: cancel kills the shell and what it started', async (ctx) => {
    const sh = client(ctx).bidi<string, SessionResult>('bash.session', [{ cwd: ctx.dir }]);
    const it = sh[Symbol.asyncIterator]();
    await sh.send('sleep 30 & echo $! > session.pid; wait');
    const pid = await pidFrom(ctx, 'session.pid');
    sh.cancel();
    assert.is((await it.next()).done, true);
    assert.ok(await goneInSandbox(ctx, pid), 'the background sleep survived the cancel');
  });

  // ---- bash.spawn and friends ----

  test('bash.spawn: the command outlives its call; bash.output follows it to its exit', async (ctx) => {
    const sp = await client(ctx).call<{ id: string; pid: number }>('bash.spawn', ['echo one; sleep 0.3; echo two >&2; exit 4', { cwd: ctx.dir }]);
    const chunks: unknown[] = [];
    let since = 0;
    let exited: { exitCode: number | null } | undefined;
    const deadline = Date.now() + 15_000;
    while (!exited && Date.now() < deadline) {
      const r = await client(ctx).call<{ chunks: unknown[]; next: number; exited?: { exitCode: number | null } }>('bash.output', [sp.id, { since, waitMs: 1000 }]);
      chunks.push(...r.chunks);
      since = r.next;
      exited = r.exited;
    }
    assert.equal(chunks, [{ stdout: 'one\n' }, { stderr: 'two\n' }]);
    assert.is(exited?.exitCode, 4);
  });

  test('bash.kill ends a spawned command and what it started', async (ctx) => {
    const sp = await client(ctx).call<{ id: string; pid: number }>('bash.spawn', ['sleep 30 & echo $! > spawn.pid; wait', { cwd: ctx.dir }]);
    const pid = await pidFrom(ctx, 'spawn.pid');
    const info = await client(ctx).call<{ running: boolean; exited?: { signal?: string } }>('bash.kill', [sp.id]);
    assert.is(info.running, false);
    assert.ok(await goneInSandbox(ctx, pid), 'the background sleep of the killed command survived');
    assert.ok(await goneInSandbox(ctx, sp.pid), 'the killed command survived');
  });

  test('bash.session: timeoutMs kills what a command runs; the session goes on', async (ctx) => {
    const sh = client(ctx).bidi<string, SessionResult>('bash.session', [{ cwd: ctx.dir, timeoutMs: 500 }]);
    const it = sh[Symbol.asyncIterator]();
    await sh.send('echo before; sleep 30');
    const timed = (await it.next()).value as SessionResult;
    assert.equal([timed.stdout, timed.timedOut], ['before\n', true]);
    await sh.send('echo after');
    assert.equal((await it.next()).value, { command: 'echo after', stdout: 'after\n', stderr: '', exitCode: 0 });
    sh.close();
    assert.is((await it.next()).done, true);
  });

  // ---- files ----

  test('files.write creates missing directories; { mkdirs: false } refuses to', async (ctx) => {
    assert.equal(await client(ctx).call('files.write', [`${ctx.dir}/made/on/the/way.txt`, 'x']), { bytes: 1 });
    assert.is((await run(ctx, 'read -r l < made/on/the/way.txt; echo "$l"')).stdout, 'x\n');
    const err = await rejection(client(ctx).call('files.write', [`${ctx.dir}/not/there.txt`, 'x', { mkdirs: false }]));
    assert.is(err.data?.code, 'ENOENT');
  });

  test('files: all 256 byte values round-trip; list describes entries', async (ctx) => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.equal(await client(ctx).call('files.write', [`${ctx.dir}/bin/all.bin`, bytes, { mkdirs: true, mode: 0o640 }]), { bytes: 256 });
    const back = await client(ctx).call<Uint8Array>('files.read', [`${ctx.dir}/bin/all.bin`]);
    assert.equal(Array.from(back), Array.from(bytes));
    const entries = await client(ctx).call<DirEntry[]>('files.list', [`${ctx.dir}/bin`]);
    assert.equal(entries.map((e) => [e.name, e.type, e.size, e.mode]), [['all.bin', 'file', 256, 0o640]]);
    // What bash sees is the same file.
    assert.is((await run(ctx, 'read -r -n 3 x < bin/all.bin; echo "${#x}"')).exitCode, 0);
  });

  test('files: upload a tree as tar, download it back in order', async (ctx) => {
    const tar = await makeTar([
      { name: 'app/', type: 'directory', mode: 0o755 },
      { name: 'app/bin/', type: 'directory', mode: 0o755 },
      { name: 'app/bin/run.sh', data: '#!/bin/sh\necho run\n', mode: 0o755 },
      { name: 'app/data/', type: 'directory', mode: 0o700 },
      { name: 'app/data/blob', data: Uint8Array.from({ length: 256 }, (_, i) => 255 - i), mode: 0o600 },
      { name: 'app/empty/', type: 'directory', mode: 0o755 },
      { name: 'app/link', type: 'symlink', linkname: 'bin/run.sh' },
    ]);
    assert.equal(await client(ctx).call('files.upload', [`${ctx.dir}/up`, tar]), { files: 2, bytes: 19 + 256 });
    // Through the symlink, with the bundle's bash: an empty image has no /bin/sh for the shebang.
    assert.is((await run(ctx, '"$BASH" up/app/link')).stdout, 'run\n');
    const got = await untar(await client(ctx).call<Uint8Array>('files.download', [`${ctx.dir}/up`]));
    assert.equal(got.map((e) => [e.name, e.type, e.mode]), [
      ['app/', 'directory', 0o755],
      ['app/bin/', 'directory', 0o755],
      ['app/bin/run.sh', 'file', 0o755],
      ['app/data/', 'directory', 0o700],
      ['app/data/blob', 'file', 0o600],
      ['app/empty/', 'directory', 0o755],
      ['app/link', 'symlink', 0o777],
    ]);
    assert.is(got[2]!.text, '#!/bin/sh\necho run\n');
    assert.is(got[6]!.linkname, 'bin/run.sh');
  });

  test('files: a tar entry escaping the upload dir is refused with EOUTSIDE', async (ctx) => {
    for (const entries of [
      [{ name: '../escaped.txt', data: 'x' }],
      [{ name: 'out', type: 'symlink' as const, linkname: '../..' }],
    ]) {
      const err = await rejection(client(ctx).call('files.upload', [`${ctx.dir}/jail`, await makeTar(entries)]));
      assert.is(err.code, 'REMOTE');
      assert.is(err.data?.code, 'EOUTSIDE');
      assert.match(err.message, 'escapes the upload directory');
    }
    assert.equal(await client(ctx).call('files.list', [`${ctx.dir}/jail`]), []);
  });

  test('files: paths leading out of the files root are refused with EOUTSIDE', async (ctx) => {
    if (ctx.root === '/') return; // nothing lies outside "/": the escapes below cannot be expressed
    await run(ctx, `ln -s / door`);
    for (const path of ['../outside.txt', `${ctx.dir}/../../x`, '/etc/hostname', `${ctx.dir}/door/etc/hostname`]) {
      const err = await rejection(client(ctx).call('files.read', [path]));
      assert.is(err.data?.code, 'EOUTSIDE', `${path}: ${err.message}`);
      assert.is(err.message, `path "${path}" escapes the files root "${ctx.root}"`);
    }
  });

  return test;
}

interface Untarred {
  name: string;
  type: string;
  mode: number;
  linkname?: string;
  text: string;
}

async function untar(bytes: Uint8Array): Promise<Untarred[]> {
  const ex = extract();
  ex.end(Buffer.from(bytes));
  const out: Untarred[] = [];
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(Buffer.from(c as Uint8Array));
    const h = entry.header;
    out.push({ name: h.name, type: h.type, mode: h.mode, linkname: h.linkname || undefined, text: Buffer.concat(chunks as unknown as Uint8Array[]).toString('utf8') });
  }
  return out;
}
