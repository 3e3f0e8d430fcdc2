/**
 * Plugins: a third-party plugin package (the fixture's stand-in npm package)
 * goes through the same compiler under its namespace; built-in plugins are
 * on by default and `"plugins": []` opts out.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate, GenError } from '../../codegen/index.js';
import { fixturesDir, linkFixturePlugins, repoRoot, tempProject } from './helpers.js';

linkFixturePlugins();

test('a third-party plugin: targets named <namespace>.<fn>, its module path relative to the project', async () => {
  const r = await generate({ projectDir: join(fixturesDir, 'plugin'), write: false });
  assert.equal(r.manifest.modules, { app: 'src/index.ts', greet: 'node_modules/agentix-plugin-greet/src/index.ts' });
  assert.equal(Object.keys(r.manifest.targets), ['greet.hello', 'greet.letters', 'ping']);
  assert.equal({ module: r.manifest.targets['greet.hello']!.module, export: r.manifest.targets['greet.hello']!.export }, { module: 'greet', export: 'hello' });
  assert.is(r.manifest.targets['greet.letters']!.shape, 'stream');
  const client = r.files.find((f) => f.path.endsWith('client.ts'))!.content;
  assert.match(client, /readonly greet: \{\n.*\n    hello\(name: string, loud\?: boolean, callOptions\?: CallOptions\): Promise<Greeting>;/);
  assert.match(client, /client\.call\("greet\.hello", args\.slice\(0, 2\), withDefaults\(args\[2\]\)\)/);
});

test('"plugins": [] opts out of the built-in plugins', async () => {
  const p = tempProject({ 'src/index.ts': 'export function f(): number { return 1; }\n' }, { plugins: [] });
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    assert.equal(Object.keys(r.manifest.modules), ['app']);
    assert.equal(r.warnings, []);
  } finally {
    p.cleanup();
  }
});

test('by default the built-in bash and files plugins are included (or skipped with a warning while absent)', async () => {
  const p = tempProject({ 'src/index.ts': 'export function f(): number { return 1; }\n' }, {});
  try {
    const r = await generate({ projectDir: p.dir, write: false });
    for (const name of ['bash', 'files']) {
      if (existsSync(join(repoRoot, 'plugins', name, 'index.ts'))) {
        assert.ok(name in r.manifest.modules, `${name} module`);
        assert.ok(Object.keys(r.manifest.targets).some((t) => t.startsWith(`${name}.`)), `${name} targets`);
      } else {
        assert.match(r.warnings.join('\n'), new RegExp(`built-in plugin "${name}" is not available`));
      }
    }
  } finally {
    p.cleanup();
  }
});

test('a plugin that is not installed, or not a plugin, is a friendly error', async () => {
  const missing = tempProject({ 'src/index.ts': 'export function f(): void {}\n' }, { plugins: ['agentix-plugin-nope'] });
  const notPlugin = tempProject({ 'src/index.ts': 'export function f(): void {}\n', 'node_modules/left-pad/package.json': '{"name":"left-pad"}' }, { plugins: ['left-pad'] });
  try {
    await generate({ projectDir: missing.dir, write: false }).then(() => assert.unreachable(), (e) => {
      assert.instance(e, GenError);
      assert.match(e.message, /package\.json: plugin "agentix-plugin-nope" is not installed/);
    });
    await generate({ projectDir: notPlugin.dir, write: false }).then(() => assert.unreachable(), (e) => {
      assert.instance(e, GenError);
      assert.match(e.message, /package "left-pad" is not an agentix plugin/);
    });
  } finally {
    missing.cleanup();
    notPlugin.cleanup();
  }
});

test('an app export clashing with a plugin namespace is refused', async () => {
  const p = tempProject({ 'src/index.ts': 'export function greet(): void {}\n', 'plugin/package.json': '{"name":"p","agentix":{"plugin":"greet","entry":"index.ts"}}', 'plugin/index.ts': 'export function hi(): void {}\n' }, { plugins: ['./plugin'] });
  try {
    await generate({ projectDir: p.dir, write: false }).then(() => assert.unreachable(), (e) => {
      assert.instance(e, GenError);
      assert.match(e.message, /\n  src\/index\.ts:1: export greet: the name clashes with the plugin namespace "greet"/);
    });
  } finally {
    p.cleanup();
  }
});

test.run();
