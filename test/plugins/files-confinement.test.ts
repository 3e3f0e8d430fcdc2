/**
 * The files root holds against a tree that changes underneath, through a
 * real runtime (`agentix serve` on the plugin fixture): a directory swapped
 * for a symlink to the outside between check and use never lets a read,
 * write or list out; and an archive that is refused, for its names or for
 * what is already on disk, has written nothing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteError } from '../../index.js';
import { makeTar, serveFixture, type ServedFixture } from './helpers.js';

interface Ctx {
  s?: ServedFixture;
  base: string;
  root: string;
  outside: string;
}

const test = suite<Ctx>('files: the root holds while the tree changes', { base: '', root: '', outside: '' });

async function remoteError(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.instance(err, RemoteError, `expected a RemoteError, got ${String(err)}`);
  return err as RemoteError;
}

/**
 * A process that swaps `root/d` between a real directory and a symlink to
 * `outside`, as fast as rename(2) goes, for `ms`.
 */
function swapper(root: string, outside: string, ms: number): ChildProcess {
  mkdirSync(join(root, 'in'));
  writeFileSync(join(root, 'in', 'secret'), 'inside');
  symlinkSync(outside, join(root, 'link'));
  const script = `
    const { renameSync } = require('node:fs');
    const [root, ms] = [process.argv[1], Number(process.argv[2])];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      renameSync(root + '/in', root + '/d'); renameSync(root + '/d', root + '/in');
      renameSync(root + '/link', root + '/d'); renameSync(root + '/d', root + '/link');
    }`;
  return spawn(process.execPath, ['-e', script, root, String(ms)], { stdio: 'ignore' });
}

test.before(async (ctx) => {
  ctx.base = mkdtempSync(join(tmpdir(), 'agentix-files-confinement-'));
  ctx.root = join(ctx.base, 'root');
  ctx.outside = join(ctx.base, 'outside');
  mkdirSync(ctx.root);
  mkdirSync(ctx.outside);
  writeFileSync(join(ctx.outside, 'secret'), 'OUTSIDE');
  writeFileSync(join(ctx.outside, 'outside-only'), '');
  try {
    ctx.s = await serveFixture({ env: { AGENTIX_FILES_ROOT: ctx.root } });
  } catch (err) {
    rmSync(ctx.base, { recursive: true, force: true });
    throw err;
  }
});
test.after(async (ctx) => {
  try {
    await ctx.s?.cleanup();
  } finally {
    rmSync(ctx.base, { recursive: true, force: true });
  }
});

test('a directory swapped for a symlink to the outside never lets a read, write or list out', async (ctx) => {
  const { client } = ctx.s!;
  const RACE_MS = 3000;
  const swap = swapper(ctx.root, ctx.outside, RACE_MS + 2000);
  const seen = { inside: 0, outside: 0, refused: 0, missing: 0, other: 0, listedOutside: 0 };
  const others: string[] = [];
  try {
    const end = Date.now() + RACE_MS;
    const reader = async () => {
      while (Date.now() < end) {
        const r = await client.call<Uint8Array>('files.read', ['d/secret']).then((b) => Buffer.from(b).toString(), (e: RemoteError) => e);
        if (r === 'inside') seen.inside++;
        else if (r === 'OUTSIDE') seen.outside++;
        else if (r instanceof RemoteError && r.data?.code === 'EOUTSIDE') seen.refused++;
        else if (r instanceof RemoteError && (r.data?.code === 'ENOENT' || r.data?.code === 'ERACE')) seen.missing++;
        else {
          seen.other++;
          if (others.length < 5) others.push(r instanceof Error ? r.message : `read gave ${r}`);
        }
      }
    };
    const writer = async () => {
      while (Date.now() < end) await client.call('files.write', ['d/planted', 'x', { mkdirs: false }]).catch(() => undefined);
    };
    const lister = async () => {
      while (Date.now() < end) {
        const names: string[] = await client.call<{ name: string }[]>('files.list', ['d']).then((l) => l.map((e) => e.name), () => []);
        if (names.includes('outside-only')) seen.listedOutside++;
      }
    };
    await Promise.all([reader(), reader(), writer(), lister()]);
  } finally {
    swap.kill('SIGKILL');
  }
  assert.is(seen.outside, 0, `${seen.outside} reads returned the file outside the root (${JSON.stringify(seen)})`);
  assert.not.ok(existsSync(join(ctx.outside, 'planted')), 'a write went through the symlink, outside the root');
  assert.is(seen.listedOutside, 0, 'files.list listed the directory outside the root');
  // The race did happen: both states of d were met; and nothing else went wrong.
  assert.ok(seen.inside > 0 && seen.refused > 0, `the swap was not seen: ${JSON.stringify(seen)}`);
  assert.is(seen.other, 0, `unexpected outcomes: ${others.join('; ')}`);
});

test('an archive refused for what is on disk writes nothing', async (ctx) => {
  const dst = join(ctx.root, 'dst-disk');
  mkdirSync(dst);
  symlinkSync(ctx.outside, join(dst, 'door'));
  const tar = await makeTar([...Array.from({ length: 50 }, (_, i) => ({ name: `ok/f${i}`, data: 'fine' })), { name: 'door/planted', data: 'x' }]);
  const err = await remoteError(ctx.s!.client.call('files.upload', ['dst-disk', tar]));
  assert.is(err.data?.code, 'EOUTSIDE');
  assert.match(err.message, 'tar entry "door/planted" escapes the upload directory');
  assert.equal(readdirSync(dst), ['door'], 'entries before the refused one were written');
  assert.equal(readdirSync(ctx.outside).sort(), ['outside-only', 'secret']);
});

test('an archive refused for its own entries, or for a non-empty directory it would replace, writes nothing', async (ctx) => {
  const { client } = ctx.s!;
  const cases: [string, Parameters<typeof makeTar>[0], string, RegExp][] = [
    ['dst-notdir', [{ name: 'a/f1', data: '1' }, { name: 'x', data: 'file' }, { name: 'x/y', data: 'under a file' }], 'ENOTDIR', /"x" on the way is not a directory/],
    ['dst-nonempty', [{ name: 'new1', data: '1' }, { name: 'keep', data: 'a file now' }], 'EEXIST', /would replace the non-empty directory "keep"/],
    ['dst-planned', [{ name: 'p/', type: 'directory' }, { name: 'p/child', data: 'c' }, { name: 'p', data: 'file over it' }], 'EEXIST', /would replace the non-empty directory "p"/],
    ['dst-hardlink', [{ name: 'f', data: 'f' }, { name: 'h', type: 'link', linkname: 'missing' }], 'EBADTAR', /hard link target "missing" is not in the directory or the archive/],
  ];
  for (const [name, entries, code, message] of cases) {
    const dst = join(ctx.root, name);
    mkdirSync(join(dst, 'keep'), { recursive: true });
    writeFileSync(join(dst, 'keep', 'precious'), 'data');
    const err = await remoteError(client.call('files.upload', [name, await makeTar(entries)]));
    assert.is(err.data?.code, code, `${name}: ${err.message}`);
    assert.match(err.message, message);
    assert.equal(readdirSync(dst), ['keep'], `${name}: entries were written before the refusal`);
    assert.equal(readdirSync(join(dst, 'keep')), ['precious']);
  }
});

test('an archive may go through a symlink it creates itself while that stays inside', async (ctx) => {
  const tar = await makeTar([{ name: 'real/', type: 'directory' }, { name: 'alias', type: 'symlink', linkname: 'real' }, { name: 'alias/f', data: 'via alias' }]);
  assert.equal(await ctx.s!.client.call('files.upload', ['dst-alias', tar]), { files: 1, bytes: 9 });
  assert.equal(readdirSync(join(ctx.root, 'dst-alias', 'real')), ['f']);
});

test.run();
