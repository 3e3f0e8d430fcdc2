/**
 * `agentix build` without an engine: the docker-archive it writes, its
 * reproducibility, the layer split, and the inputs it refuses. (Loading and
 * running the image: test/docker/deployment.test.ts.)
 */
import { appendFileSync, createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects } from '../support/assert.js';
import tar from 'tar-stream';
import { buildBundle } from '../../bundle/index.js';
import { main as buildMain } from '../../cli/build.js';
import { copyHelloFixture, type FixtureCopy } from '../support/bundle-fixture.js';

const copies: FixtureCopy[] = [];
/** One runtime-layer cache for the tests that are not about cold builds (each cold build copies ~110 MiB). */
const sharedCache = mkdtempSync(join(tmpdir(), 'agentix-layer-cache-'));
const fixture = () => {
  const c = copyHelloFixture();
  copies.push(c);
  return c.dir;
};
test.after(() => {
  for (const c of copies) c.remove();
  rmSync(sharedCache, { recursive: true, force: true });
});

/** name → { header, body (small files only) } of a tar file. */
async function readTar(file: string, keepBodiesUnder = 1 << 20): Promise<Map<string, { header: tar.Header; body?: Buffer }>> {
  const out = new Map<string, { header: tar.Header; body?: Buffer }>();
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        if (header.size <= keepBodiesUnder) chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        out.set(header.name, { header, body: header.size <= keepBodiesUnder ? Buffer.concat(chunks) : undefined });
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  createReadStream(file).pipe(ex as unknown as NodeJS.WritableStream);
  await done;
  return out;
}

test('the archive is a docker-archive of three layers under /nix, VOLUME /nix, fixed timestamps and owners', async () => {
  const dir = fixture();
  const out = join(dir, 'bundle.tar');
  const steps: string[] = [];
  const r = await buildBundle({ projectDir: dir, tag: 'agentix-test-archive:1', out, generate: false, cacheDir: sharedCache, onProgress: (s) => steps.push(s) });
  assert.ok(existsSync(out));
  assert.is(r.archive, out);
  assert.equal(r.layers.map((l) => l.name), ['runtime', 'dependencies', 'app']);
  assert.ok(steps.some((s) => s.startsWith('runtime layer')), steps.join(', '));
  assert.ok(!steps.some((s) => s.startsWith('load image')), 'with --out only, nothing is loaded');

  const archive = await readTar(out, 64 << 10);
  const manifest = JSON.parse(archive.get('manifest.json')!.body!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
  assert.is(manifest.length, 1);
  assert.equal(manifest[0].RepoTags, ['agentix-test-archive:1']);
  assert.is(`sha256:${manifest[0].Config.replace(/\.json$/, '')}`, r.imageId);
  const config = JSON.parse(archive.get(manifest[0].Config)!.body!.toString());
  assert.equal(config.config.Volumes, { '/nix': {} });
  assert.is(config.config.Labels['agentix.bundle-image'], '1');
  assert.equal(config.rootfs.diff_ids, r.layers.map((l) => l.digest));
  assert.is(config.created, '1970-01-01T00:00:00Z');

  // the app layer holds the run dir, nothing else
  const appLayer = join(dir, '.agentix', 'build', 'layers', `${r.layers[2].digest.slice(7)}.tar`);
  const app = await readTar(appLayer);
  for (const [name, { header }] of app) {
    assert.ok(name.startsWith('nix/'), name);
    assert.is(header.uid, 0);
    assert.is(header.gid, 0);
    assert.is(header.mtime?.getTime(), 0);
  }
  assert.ok(app.has('nix/runtime/app/manifest.json'));
  assert.ok(app.has('nix/runtime/app/modules/app.js'));
  // the dependency is in its own layer, at its node_modules place
  const deps = await readTar(join(dir, '.agentix', 'build', 'layers', `${r.layers[1].digest.slice(7)}.tar`));
  assert.ok(deps.has('nix/runtime/app/node_modules/dequal/package.json'), [...deps.keys()].join('\n'));
});

test('the same input gives the same image ID; changing only the code changes only the app layer', async () => {
  // two copies at the same depth: two cold builds, nothing shared but the inputs
  const a = fixture();
  const b = fixture();
  const ra = await buildBundle({ projectDir: a, tag: 'agentix-test-repro:1', load: false, generate: false });
  const rb = await buildBundle({ projectDir: b, tag: 'agentix-test-repro:1', load: false, generate: false });
  assert.is(rb.imageId, ra.imageId);
  assert.equal(rb.layers, ra.layers);
  // a warm rebuild (cached runtime layer) agrees too
  const ra2 = await buildBundle({ projectDir: a, tag: 'agentix-test-repro:1', load: false, generate: false });
  assert.is(ra2.imageId, ra.imageId);

  appendFileSync(join(b, 'src', 'index.ts'), '\nexport function added(): number {\n  return 42;\n}\n');
  const rc = await buildBundle({ projectDir: b, tag: 'agentix-test-repro:1', load: false, generate: false });
  assert.is.not(rc.imageId, ra.imageId);
  assert.is(rc.layers[0].digest, ra.layers[0].digest, 'runtime layer unchanged');
  assert.is(rc.layers[1].digest, ra.layers[1].digest, 'dependencies layer unchanged');
  assert.is.not(rc.layers[2].digest, ra.layers[2].digest, 'app layer changed');
});

test('SOURCE_DATE_EPOCH sets the timestamps (and so the image ID)', async () => {
  const dir = fixture();
  const before = await buildBundle({ projectDir: dir, tag: 'agentix-test-epoch:1', load: false, generate: false, cacheDir: sharedCache });
  process.env.SOURCE_DATE_EPOCH = '1700000000';
  try {
    const after = await buildBundle({ projectDir: dir, tag: 'agentix-test-epoch:1', load: false, generate: false, cacheDir: sharedCache });
    assert.is.not(after.imageId, before.imageId);
    assert.is.not(after.layers[2].digest, before.layers[2].digest, 'the app layer carries the new timestamps');
  } finally {
    delete process.env.SOURCE_DATE_EPOCH;
  }
});

test('the build runs the compiler first: the manifest in the image is the one it generated', async () => {
  const dir = fixture();
  rmSync(join(dir, 'agentix-gen'), { recursive: true, force: true });
  const steps: string[] = [];
  const r = await buildBundle({ projectDir: dir, tag: 'agentix-test-gen:1', load: false, cacheDir: sharedCache, onProgress: (s) => steps.push(s) });
  assert.is(steps[0], 'generate manifest');
  const generated = JSON.parse(readFileSync(join(dir, 'agentix-gen', 'manifest.json'), 'utf8')) as { targets: Record<string, unknown> };
  for (const name of ['hello', 'count', 'where', 'sh']) assert.ok(name in generated.targets, `target ${name} generated`);
  const app = await readTar(join(dir, '.agentix', 'build', 'layers', `${r.layers[2].digest.slice(7)}.tar`));
  const shipped = JSON.parse(app.get('nix/runtime/app/manifest.json')!.body!.toString()) as { targets: Record<string, unknown> };
  assert.equal(Object.keys(shipped.targets).sort(), Object.keys(generated.targets).sort());
});

test('a platform other than the host is refused with the reason', async () => {
  const dir = fixture();
  const other = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
  try {
    await buildBundle({ projectDir: dir, tag: 'x:1', load: false, platform: other, generate: false });
    assert.unreachable('should have refused');
  } catch (err) {
    assert.match((err as Error).message, `cannot build for ${other}`);
    assert.match((err as Error).message, "this host's node and libraries");
  }
});

test('an unknown tool, a bad tag and a missing project are named in the error', async () => {
  const dir = fixture();
  await rejects(buildBundle({ projectDir: dir, tag: 'x:1', load: false, tools: ['bash', 'nosuchtool'], generate: false }), /unknown tool nosuchtool.*known tools: bash/);
  await rejects(buildBundle({ projectDir: dir, tag: 'Bad Name:1', load: false, generate: false }), /invalid image name "Bad Name:1"/);
  await rejects(buildBundle({ projectDir: join(dir, 'nope'), tag: 'x:1', load: false }), /project directory .*nope does not exist/);
});

test('a dependency that is not installed is named, with what requires it', async () => {
  const dir = fixture();
  rmSync(join(dir, 'node_modules', 'dequal'));
  await rejects(buildBundle({ projectDir: dir, tag: 'x:1', load: false, generate: false }), /dependency dequal \(required by the project\) is not installed: run npm install/);
});

test('--tools none ships node alone, with its loader and libraries patched to /nix/runtime/lib', async () => {
  const dir = fixture();
  await buildBundle({ projectDir: dir, tag: 'agentix-test-notools:1', load: false, tools: [], generate: false });
  const layersDir = join(dir, '.agentix', 'build', 'layers');
  const file = readdirSync(layersDir).find((f) => f.startsWith('runtime-') && f.endsWith('.tar'));
  assert.ok(file, 'runtime layer in the cache');
  const runtime = await readTar(join(layersDir, file!));
  const bin = [...runtime.keys()].filter((n) => /^nix\/runtime\/bin\/[^/]+$/.test(n));
  assert.equal(bin, ['nix/runtime/bin/node']);
  assert.ok(runtime.has('nix/runtime/lib/libc.so.6'));
  assert.ok([...runtime.keys()].some((n) => /^nix\/runtime\/lib\/ld-linux[^/]*\.so\.\d$/.test(n)));
  assert.ok(runtime.has('nix/runtime/app/runtime/server-main.js'));
  assert.ok(runtime.has('nix/runtime/app/runtime/worker-main.js'));
  // the entries import their chunks by relative path: every one they name must be in the layer
  for (const entry of ['server-main.js', 'worker-main.js']) {
    const text = runtime.get(`nix/runtime/app/runtime/${entry}`)!.body!.toString('utf8');
    const named = [...text.matchAll(/["'](\.\/chunks\/[^"']+\.js)["']/g)].map((m) => `nix/runtime/app/runtime/${m[1]!.slice(2)}`);
    assert.ok(named.length > 0, `${entry} imports no chunk`);
    for (const chunk of named) assert.ok(runtime.has(chunk), `${entry} imports ${chunk}, which the layer lacks`);
  }
  assert.is(runtime.get('nix/runtime/bin/node')!.header.mode, 0o755);
});

test('cli: -t is required, --help exits 0', async () => {
  await rejects(buildMain([fixture()]), /-t NAME:TAG is required/);
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    assert.is(await buildMain(['--help']), 0);
  } finally {
    process.stdout.write = write;
  }
});

test.run();
