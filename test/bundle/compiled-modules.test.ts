/**
 * What a project's modules weigh once compiled for a sandbox: the worker
 * imports every one of them (the plugins' right after it is ready, while
 * other sandboxes of a wave are still starting), so what they carry is
 * start-up CPU. A module that imports the sandbox API ('agentix') gets the
 * call context and the error classes, not the msgpack encoder the runtime
 * already has; its inline source map maps stack traces to the TypeScript
 * source without carrying that source a second time.
 */
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileRunDir } from '../../bundle/compile.js';
import type { Manifest } from '../../runtime/manifest.js';

const SOURCE = `import { AgentixError, currentSignal } from 'agentix';

export async function refuse(why: string): Promise<never> {
  if (currentSignal().aborted) throw new Error('cancelled');
  throw new AgentixError('INVALID_ARGUMENT', why);
}
`;

async function compiled(external: 'packages' | 'none'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agentix-compiled-'));
  try {
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    await writeFile(join(dir, 'src/index.ts'), SOURCE);
    const manifest = { modules: { app: 'src/index.ts' }, targets: {} } as unknown as Manifest;
    const runDir = join(dir, 'run');
    await compileRunDir({ projectDir: dir, manifest, runDir, external });
    const files = [join(runDir, 'modules/app.js')];
    for (const f of await readdir(join(runDir, 'modules/chunks')).catch(() => [])) files.push(join(runDir, 'modules/chunks', f));
    return (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The inline source maps of `text`, decoded. */
function sourceMaps(text: string): { sources: string[]; sourcesContent?: unknown; mappings: string }[] {
  return [...text.matchAll(/\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)/g)].map((m) => JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8')));
}

for (const external of ['none', 'packages'] as const) {
  test(`a module importing AgentixError and currentSignal from 'agentix' carries no msgpack encoder (external: ${external})`, async () => {
    const text = await compiled(external);
    assert.match(text, 'INVALID_ARGUMENT');
    assert.match(text, 'agentix.callContext'); // the shared call context did come along
    assert.not.match(text, /msgpackr|Packr|Unpackr/);
  });
}

test('a compiled module\'s inline source map points at its TypeScript file without embedding the source', async () => {
  const maps = sourceMaps(await compiled('none'));
  assert.ok(maps.length > 0, 'no inline source map');
  assert.ok(maps.some((m) => m.sources.some((s) => s.endsWith('src/index.ts'))), `no map names src/index.ts: ${JSON.stringify(maps.map((m) => m.sources))}`);
  for (const m of maps) {
    assert.ok(m.mappings.length > 0, 'a map without mappings');
    assert.ok(m.sourcesContent === undefined, `a map embeds its sources: ${JSON.stringify(m.sources)}`);
  }
});

test.run();
