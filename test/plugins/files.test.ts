/**
 * The files plugin called in-process, on real temp dirs: every test gets its
 * own files root (AGENTIX_FILES_ROOT), removed afterwards.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { download, list, read, upload, write } from '../../plugins/files/index.js';
import { makeTar, within, withEnv, withTempDir } from './helpers.js';

/** A fresh files root with `inside/` as AGENTIX_FILES_ROOT and `outside/` beside it. */
async function withRoot(fn: (root: string, outside: string) => Promise<void>): Promise<void> {
  await withTempDir(async (base) => {
    const root = join(base, 'inside');
    const outside = join(base, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'top secret');
    const before = process.env.AGENTIX_FILES_ROOT;
    process.env.AGENTIX_FILES_ROOT = root;
    try {
      await fn(root, outside);
    } finally {
      if (before === undefined) delete process.env.AGENTIX_FILES_ROOT;
      else process.env.AGENTIX_FILES_ROOT = before;
    }
  });
}

async function refused(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const err = await p.then(() => undefined, (e: Error) => e);
  assert.ok(err, 'expected a refusal, the call succeeded');
  return err as Error & { code?: string };
}

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

const rw = suite('files.read / files.write / files.list');

rw('binary round trip of all 256 byte values', async () => {
  await withRoot(async (root) => {
    assert.equal(await write('bin/all.bin', allBytes, { mkdirs: true }), { bytes: 256 });
    const back = await read('bin/all.bin');
    assert.instance(back, Uint8Array);
    assert.equal(Array.from(back), Array.from(allBytes));
    assert.equal(Array.from(await readFile(join(root, 'bin/all.bin'))), Array.from(allBytes));
  });
});

rw('strings are written as UTF-8; mode is applied, also to an existing file', async () => {
  await withRoot(async (root) => {
    assert.equal(await write('hello.txt', 'grüß dich\n'), { bytes: 12 });
    assert.is(Buffer.from(await read('hello.txt')).toString('utf8'), 'grüß dich\n');
    await write('run.sh', '#!/bin/sh\necho hi\n', { mode: 0o755 });
    assert.is((await stat(join(root, 'run.sh'))).mode & 0o7777, 0o755);
    await write('run.sh', 'exit 0\n', { mode: 0o700 });
    assert.is((await stat(join(root, 'run.sh'))).mode & 0o7777, 0o700);
  });
});

rw('absolute paths inside the root work', async () => {
  await withRoot(async (root) => {
    await write(join(root, 'abs.txt'), 'x');
    assert.is(Buffer.from(await read(join(root, 'abs.txt'))).toString(), 'x');
  });
});

rw('write creates missing parent directories, unless { mkdirs: false }', async () => {
  await withRoot(async (root) => {
    const err = await refused(write('a/b/c.txt', 'x', { mkdirs: false }));
    assert.is(err.code, 'ENOENT');
    assert.is(err.message, 'cannot write "a/b/c.txt": its directory does not exist (mkdirs is off)');
    assert.not.ok(existsSync(join(root, 'a')), 'mkdirs: false created a directory');
    assert.equal(await write('a/b/c.txt', 'x'), { bytes: 1 });
    assert.is(await readFile(join(root, 'a/b/c.txt'), 'utf8'), 'x');
    assert.equal(await write('a/b/d.txt', 'y', { mkdirs: false }), { bytes: 1 }, 'mkdirs: false refused an existing directory');
    const missing = await refused(read('nope.txt'));
    assert.is(missing.message, 'path "nope.txt" does not exist');
    const bad = await refused(write('x', 'y', { mkdirs: 'yes' as unknown as boolean }));
    assert.match(bad.message, 'opts.mkdirs must be true or false');
  });
});

rw('list gives type, size, mode and mtime, sorted by name, symlinks not followed', async () => {
  await withRoot(async (root) => {
    await write('b.txt', '12345', { mode: 0o600 });
    await mkdir(join(root, 'a-dir'));
    await symlink('b.txt', join(root, 'c-link'));
    const entries = await list('.');
    assert.equal(entries.map((e) => [e.name, e.type]), [['a-dir', 'dir'], ['b.txt', 'file'], ['c-link', 'symlink']]);
    const b = entries[1]!;
    assert.is(b.size, 5);
    assert.is(b.mode, 0o600);
    assert.ok(Math.abs(b.mtimeMs - Date.now()) < 60_000, 'mtime is not recent');
    const notDir = await refused(list('b.txt'));
    assert.is(notDir.code, 'ENOTDIR');
  });
});

rw('read refuses what is not a regular file', async () => {
  await withRoot(async (root) => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const err = await refused(read('pipe'));
    assert.is(err.message, 'path "pipe" is not a regular file');
    assert.is((await refused(read('.'))).code, 'EISDIR');
  });
});

rw('bad data gets a clear error', async () => {
  await withRoot(async () => {
    const err = await refused(write('x', 42 as unknown as string));
    assert.is(err.code, 'EINVAL');
    assert.match(err.message, 'data must be a Uint8Array or a string');
    const mode = await refused(write('x', 'y', { mode: 0o70000 }));
    assert.match(mode.message, 'opts.mode must be permission bits');
  });
});

rw.run();

const confine = suite('files: the root confines every path');

confine('".." out of the root is refused with EOUTSIDE', async () => {
  await withRoot(async (root) => {
    const err = await refused(read('../outside/secret'));
    assert.is(err.code, 'EOUTSIDE');
    assert.is(err.message, `path "../outside/secret" escapes the files root "${root}"`);
    assert.is((await refused(write('../x', 'y'))).code, 'EOUTSIDE');
    assert.is((await refused(list('..'))).code, 'EOUTSIDE');
    assert.is((await refused(read('a/../../outside/secret'))).code, 'EOUTSIDE');
  });
});

confine('absolute paths outside are refused', async () => {
  await withRoot(async (_root, outside) => {
    assert.is((await refused(read('/etc/passwd'))).code, 'EOUTSIDE');
    assert.is((await refused(read(join(outside, 'secret')))).code, 'EOUTSIDE');
    assert.is((await refused(download('/'))).code, 'EOUTSIDE');
  });
});

confine('a symlink inside the root that points outside is refused, for reading and writing', async () => {
  await withRoot(async (root, outside) => {
    await symlink(outside, join(root, 'door'));
    await symlink(join(outside, 'secret'), join(root, 'secret-link'));
    await symlink(join(outside, 'new-file'), join(root, 'dangling'));
    assert.is((await refused(read('door/secret'))).code, 'EOUTSIDE');
    assert.is((await refused(read('secret-link'))).code, 'EOUTSIDE');
    assert.is((await refused(write('door/planted', 'x'))).code, 'EOUTSIDE');
    assert.is((await refused(write('dangling', 'x'))).code, 'EOUTSIDE');
    assert.is((await refused(list('door'))).code, 'EOUTSIDE');
    assert.is((await refused(upload('door', await makeTar([{ name: 'f', data: 'x' }])))).code, 'EOUTSIDE');
    assert.not.ok(existsSync(join(outside, 'planted')));
    assert.not.ok(existsSync(join(outside, 'new-file')));
    assert.not.ok(existsSync(join(outside, 'f')));
  });
});

confine('a symlink inside the root that stays inside works', async () => {
  await withRoot(async (root) => {
    await mkdir(join(root, 'real'));
    await symlink('real', join(root, 'alias'));
    await write('alias/f.txt', 'via alias');
    assert.is(Buffer.from(await read('real/f.txt')).toString(), 'via alias');
  });
});

confine.run();

const tars = suite('files.upload / files.download');

/** name → [type, mode, content or link target] of every entry under dir. */
async function snapshot(dir: string, rel = ''): Promise<Record<string, [string, number, string]>> {
  const out: Record<string, [string, number, string]> = {};
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = join(dir, rel, name);
    const key = rel ? `${rel}/${name}` : name;
    const st = await lstat(path);
    if (st.isDirectory()) {
      out[key] = ['dir', st.mode & 0o7777, ''];
      Object.assign(out, await snapshot(dir, key));
    } else if (st.isSymbolicLink()) out[key] = ['symlink', 0, await readlink(path)];
    else out[key] = ['file', st.mode & 0o7777, (await readFile(path)).toString('base64')];
  }
  return out;
}

tars('download then upload reproduces a tree: nested dirs, modes, empty dir, symlink, binary', async () => {
  await withRoot(async (root) => {
    await write('src/a/b/deep.txt', 'deep', { mkdirs: true });
    await write('src/a/tool.sh', '#!/bin/sh\n', { mode: 0o750 });
    await write('src/bin.dat', allBytes);
    await mkdir(join(root, 'src/empty'));
    await mkdir(join(root, 'src/private'), { mode: 0o700 });
    await symlink('a/b/deep.txt', join(root, 'src/link'));
    const tar = await download('src');
    assert.instance(tar, Uint8Array);
    const again = await download('src');
    assert.equal(Buffer.from(again).equals(Buffer.from(tar)), true, 'two downloads of the same tree differ');

    const summary = await upload('copy', tar);
    assert.equal(summary, { files: 3, bytes: 4 + 10 + 256 });
    assert.equal(await snapshot(join(root, 'copy')), await snapshot(join(root, 'src')));
    assert.ok((await snapshot(join(root, 'copy')))['empty'], 'the empty directory is missing');
    assert.is((await stat(join(root, 'copy/private'))).mode & 0o7777, 0o700);
  });
});

tars('download is a tar that system tar reads, in sorted order', async () => {
  await withRoot(async (root) => {
    await write('t/z.txt', 'z', { mkdirs: true });
    await write('t/a/m.txt', 'm', { mkdirs: true });
    await write('t.tar', await download('t'));
    const names = execFileSync('tar', ['-tf', join(root, 't.tar')], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(names, ['a/', 'a/m.txt', 'z.txt']);
  });
});

tars('upload takes a tar made by system tar, including hard links', async () => {
  await withRoot(async (root) => {
    await withTempDir(async (src) => {
      await mkdir(join(src, 'pkg/lib'), { recursive: true });
      await writeFile(join(src, 'pkg/lib/x.js'), 'export {}\n');
      execFileSync('ln', [join(src, 'pkg/lib/x.js'), join(src, 'pkg/hard.js')]);
      const bytes = execFileSync('tar', ['-cf', '-', '-C', src, '.']);
      const summary = await upload('.', bytes);
      assert.equal(summary, { files: 2, bytes: 10 }); // the hard link shares the content
      assert.is(await readFile(join(root, 'pkg/hard.js'), 'utf8'), 'export {}\n');
      assert.is((await stat(join(root, 'pkg/hard.js'))).ino, (await stat(join(root, 'pkg/lib/x.js'))).ino);
    });
  });
});

tars('upload replaces a symlink already in the way instead of writing through it', async () => {
  await withRoot(async (root, outside) => {
    await mkdir(join(root, 'dst'));
    await symlink(join(outside, 'secret'), join(root, 'dst/secret'));
    await upload('dst', await makeTar([{ name: 'secret', data: 'replaced' }]));
    assert.is(await readFile(join(outside, 'secret'), 'utf8'), 'top secret');
    assert.is(await readFile(join(root, 'dst/secret'), 'utf8'), 'replaced');
  });
});

const badTars: [string, Parameters<typeof makeTar>[0], string][] = [
  ['a "../" entry', [{ name: 'ok.txt', data: 'fine' }, { name: '../evil.txt', data: 'x' }], 'contains ".."'],
  ['an absolute entry', [{ name: '/tmp/evil.txt', data: 'x' }], 'is an absolute path'],
  ['a symlink pointing outside', [{ name: 'up', type: 'symlink', linkname: '../../outside' }], 'is a symlink to'],
  ['an absolute symlink', [{ name: 'etc', type: 'symlink', linkname: '/etc' }], 'is a symlink to'],
  ['a symlink to the parent, then a file through it', [{ name: 'p', type: 'symlink', linkname: '..' }, { name: 'p/evil.txt', data: 'x' }], 'is a symlink to'],
  ['a hard link to a file outside', [{ name: 'h', type: 'link', linkname: '../outside/secret' }], 'contains ".."'],
];

for (const [what, entries, why] of badTars) {
  tars(`upload refuses ${what}, writing nothing`, async () => {
    await withRoot(async (root, outside) => {
      const err = await refused(upload('dst', await makeTar(entries)));
      assert.is(err.code, 'EOUTSIDE');
      assert.match(err.message, why);
      assert.match(err.message, `escapes the upload directory "${join(root, 'dst')}"`);
      assert.equal(await readdir(join(root, 'dst')), []);
      assert.equal(await readdir(outside), ['secret']);
      assert.not.ok(existsSync(join(root, 'evil.txt')));
    });
  });
}

tars('upload refuses an entry beneath a symlink already in the directory that leads outside', async () => {
  await withRoot(async (root, outside) => {
    await mkdir(join(root, 'dst'));
    await symlink(outside, join(root, 'dst/door'));
    const err = await refused(upload('dst', await makeTar([{ name: 'door/planted', data: 'x' }])));
    assert.is(err.code, 'EOUTSIDE');
    assert.match(err.message, 'a directory on its way is a symlink that leads outside');
    assert.equal(await readdir(outside), ['secret']);
  });
});

tars('upload refuses fifos and devices before writing anything', async () => {
  await withRoot(async (root) => {
    const err = await refused(upload('dst', await makeTar([{ name: 'a.txt', data: 'a' }, { name: 'pipe', type: 'fifo' }])));
    assert.is(err.code, 'EUNSUPPORTED');
    assert.match(err.message, 'tar entry "pipe": type fifo is not supported');
    assert.equal(await readdir(join(root, 'dst')), []);
  });
});

tars('upload of bytes that are not a tar is a clear error', async () => {
  await withRoot(async () => {
    const err = await refused(upload('dst', new TextEncoder().encode('this is not a tar archive, just some text that is long enough to fill a header block or so'.repeat(8))));
    assert.ok(err.code === 'EBADTAR', `code ${err.code}: ${err.message}`);
    assert.match(err.message, 'cannot extract the tar into "dst"');
  });
});

tars.run();

const edges = suite('files: what is not a plain file or does not fit');

edges('files.write to a fifo is refused instead of blocking forever', async () => {
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

edges('files.read of a file over the message limit fails before reading it, naming the file and sizes', async () => {
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

edges('files.download of a tree over the message limit fails instead of building it in memory', async () => {
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

edges('a symlink whose target goes `..` through a symlink leading outside counts by where the kernel takes it', async () => {
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

edges('an upload never deletes a non-empty directory to put a file in its place; an empty one may go', async () => {
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

edges.run();
