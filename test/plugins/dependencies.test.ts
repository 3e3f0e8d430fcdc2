/**
 * The built-in plugins' own dependencies (the files plugin's tar-stream)
 * come from Agentix's install, not from the user's project: with Agentix
 * linked into a project that has nothing else installed (`npm link`, a
 * workspace, pnpm), `agentix serve` still runs files.upload and
 * files.download; and compiling for a bundle takes Agentix's copy even when
 * the project ships a tar-stream of its own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileRunDir } from '../../bundle/compile.js';
import { generate } from '../../codegen/index.js';
import { repoRoot } from '../support/serve.js';
import { makeTar, serveFixture, withTempDir } from './helpers.js';

const test = suite('the built-in plugins\' dependencies resolve from Agentix\'s install');

test('agentix serve on a project with only Agentix linked into its node_modules: files.upload and files.download work', async () => {
  const s = await serveFixture({ nodeModules: 'agentix' });
  try {
    const tar = await makeTar([{ name: 'a/', type: 'directory' }, { name: 'a/f.txt', data: 'linked' }]);
    assert.equal(await s.client.call('files.upload', ['up', tar]), { files: 1, bytes: 6 });
    const back = await s.client.call<Uint8Array>('files.download', ['up']);
    assert.ok(Buffer.from(back).includes('linked'), 'the archive lacks the file');
  } finally {
    await s.cleanup();
  }
});

test('compiling: serve imports tar-stream from Agentix\'s own node_modules by absolute URL; a bundle includes Agentix\'s copy even when the project ships tar-stream', async () => {
  const { manifest } = await generate({ projectDir: join(repoRoot, 'test/plugins/fixture'), write: false });
  const ours = pathToFileURL(realpathSync(join(repoRoot, 'node_modules/tar-stream'))).href;
  await withTempDir(async (dir) => {
    const projectDir = join(repoRoot, 'test/plugins/fixture');
    const moduleText = (runDir: string) =>
      ['modules', 'modules/chunks'].flatMap((d) => {
        try {
          return readdirSync(join(runDir, d)).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(runDir, d, f), 'utf8'));
        } catch {
          return [];
        }
      }).join('\n');

    await compileRunDir({ projectDir, manifest, runDir: join(dir, 'serve'), external: 'packages' });
    const served = moduleText(join(dir, 'serve'));
    assert.match(served, `from "${ours}/`);
    assert.not.match(served, /from "tar-stream"/);

    // As `agentix build` does for a project that declares tar-stream itself: it would stay external.
    await compileRunDir({ projectDir, manifest, runDir: join(dir, 'bundle'), external: ['tar-stream'] });
    const bundled = moduleText(join(dir, 'bundle'));
    assert.not.match(bundled, /from "tar-stream"|require\("tar-stream"\)/);
    assert.match(bundled, 'tar-stream');
  });
});

test.run();
