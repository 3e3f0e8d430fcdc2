/**
 * `agentix build` as a function: project → bundle image whose only content is
 * /nix (see layout.ts), as a docker-archive written by us (no Dockerfile, no
 * BuildKit) and loaded into the engine.
 *
 * Layers, bottom to top, so a code change rebuilds one small layer:
 *   runtime       node + tools + their libraries and loader, the agentix runtime
 *   dependencies  the project's production node_modules
 *   app           manifest.json, package.json, modules/ (the project's compiled code)
 *
 * Same input → same bytes → same image ID: fixed timestamps (SOURCE_DATE_EPOCH
 * or 0), sorted entries, uid/gid 0, a config without wall-clock fields.
 */
import { processAlive } from '../runtime/process-alive.js';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { dockerFromEnv, pingEngine } from './docker-engine.js';
import type { Manifest } from '../runtime/manifest.js';
import { archiveStream, imageConfig, type ImageLayer } from './archive.js';
import { compileRunDir } from './compile.js';
import { dependencyFiles, shippedPackages } from './deps.js';
import { buildEpoch, writeLayer, type LayerEntry, type LayerInfo } from './layer.js';
import { APP_DIR, APP_RUNTIME_DIR, BUNDLE_ENV_LABEL, BUNDLE_LABEL, NIX_ROOT, RUNTIME_BIN, SANDBOX_ENV } from './layout.js';
import { loadArchive, normaliseTag } from './load.js';
import { pushBundle, type Pushed } from './push.js';
import { assembleNative } from './native.js';
import { agentixRoot } from './package-root.js';
import { checkPlatform, formatPlatform } from './platform.js';
import { GEN_DIR, friendly, loadProjectManifest } from './project.js';
import { bundleRuntime, type RuntimeJs } from './runtime-js.js';
import { sandboxEnvSource } from './sandbox-env.js';
import { checkToolNames, DEFAULT_TOOLS, resolveTools, type ToolFiles } from './tools.js';

export { DEFAULT_TOOLS, KNOWN_TOOLS, parseTools } from './tools.js';
export { ENTRYPOINT } from './layout.js';

/** Bump when the layout or the way the runtime layer is made changes: invalidates cached runtime layers. */
const RUNTIME_LAYER_FORMAT = 4;
/** Where the build keeps its run dir, staging and cached layers, relative to the project. */
export const BUILD_DIR = join('.agentix', 'build');

export interface BuildOptions {
  projectDir: string;
  /** NAME[:TAG] (tag defaults to latest). */
  tag: string;
  /** Also (or only, see `load`) write the docker-archive to this file. */
  out?: string;
  /** Only the host's platform can be built; anything else is refused. */
  platform?: string;
  /** Tool names (see KNOWN_TOOLS); default bash, coreutils. */
  tools?: string[];
  /** Load into the Docker engine; default: true without `out`, false with it. */
  load?: boolean;
  /**
   * Also push the image to the registry its tag names (Docker's stored
   * credentials, DOCKER_CONFIG), so a cluster can pull it; implies `load`.
   */
  push?: boolean;
  /** Run the compiler first (default); false: use the existing agentix-gen/manifest.json. */
  generate?: boolean;
  /** Node binary to ship (default: the one running this build). */
  node?: string;
  /**
   * Where runtime layers (node + tools, ~110 MiB, rebuilt only when node, the
   * tools or the runtime change) are cached; several projects may share one.
   * Default: `<projectDir>/.agentix/build/layers`.
   */
  cacheDir?: string;
  onProgress?: (step: string, ms: number) => void;
}

export interface BuildResult {
  imageId: string;
  tag: string;
  archive?: string;
  layers: { name: string; digest: string; size: number }[];
  /** With `push`: the digest reference (`REPO@sha256:…`) to use as a sandbox's `bundle`. */
  pushed?: Pushed;
}

export async function buildBundle(opts: BuildOptions): Promise<BuildResult> {
  const projectDir = resolve(opts.projectDir);
  if (!existsSync(join(projectDir))) throw friendly(`project directory ${projectDir} does not exist`);
  const tag = wrap(() => normaliseTag(opts.tag));
  const platform = wrap(() => checkPlatform(opts.platform));
  const load = opts.push || (opts.load ?? !opts.out);
  const out = opts.out ? resolve(opts.out) : undefined;
  const toolNames = [...new Set(opts.tools ?? DEFAULT_TOOLS)].sort();
  wrap(() => checkToolNames(toolNames));
  const nodeBinary = opts.node ?? process.execPath;
  const epoch = wrap(() => buildEpoch());
  // Reach the engine before the slow part, so a missing engine fails in a second.
  let docker: Docker | undefined;
  if (load) {
    docker = wrap(() => dockerFromEnv());
    await pingEngine(docker).catch((err: Error) => Promise.reject(friendly(err.message)));
  }
  const progress = async <T>(step: string | ((r: T) => string), work: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    const r = await work();
    opts.onProgress?.(typeof step === 'string' ? step : step(r), Math.round(performance.now() - t0));
    return r;
  };

  const buildDir = join(projectDir, BUILD_DIR);
  const layersDir = join(buildDir, 'layers');
  const cacheDir = opts.cacheDir ? resolve(opts.cacheDir) : layersDir;
  mkdirSync(layersDir, { recursive: true });
  mkdirSync(cacheDir, { recursive: true });
  for (const dir of new Set([buildDir, layersDir, cacheDir])) sweepDeadBuilds(dir);
  const stageDir = join(buildDir, `stage-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const manifest = await progress((m: { manifest: Manifest; note: string }) => `generate manifest${m.note}`, () => manifestOf(projectDir, opts.generate ?? true));
    const runDir = join(buildDir, 'app');
    await progress(`compile project (${Object.keys(manifest.manifest.modules).length} modules)`, () =>
      compileRunDir({ projectDir, manifest: manifest.manifest, runDir, external: shippedPackages(projectDir) }).catch((err: Error) => {
        throw friendly(`compiling ${projectDir} failed: ${err.message}`);
      }),
    );
    // before the slow part: a missing dependency fails in a second
    const deps = wrap(() => dependencyFiles(projectDir));
    const runtimeJs = await progress('bundle runtime', () =>
      bundleRuntime(join(stageDir, 'runtime-js')).catch((err: Error) => {
        throw friendly(`bundling the agentix runtime failed: ${err.message}`);
      }),
    );
    const tools = await progress(`resolve tools (${toolNames.join(', ') || 'none'})`, () => wrapAsync(() => resolveTools(toolNames)));

    const runtimeLayer = await progress(
      (r: { cached: boolean }) => `runtime layer: node, tools, libraries${r.cached ? ' (cached)' : ''}`,
      () => runtimeLayerFor(nodeBinary, tools, runtimeJs, stageDir, cacheDir, epoch),
    );
    const depsLayer = await progress(`dependencies layer (${deps.packages.length} packages)`, async () => {
      // the directory entry keeps the layer non-empty (and the path stable) when there are no dependencies
      return writeLayerFile(layersDir, [...deps.entries, { kind: 'data', path: `${APP_DIR}/node_modules/.agentix-deps`, data: deps.packages.join('\n') + '\n' }], epoch);
    });
    const appLayer = await progress('app layer', () => writeLayerFile(layersDir, appEntries(runDir), epoch));

    const layers: ImageLayer[] = [
      { name: 'runtime', ...runtimeLayer },
      { name: 'dependencies', ...depsLayer },
      { name: 'app', ...appLayer },
    ];
    const labels: Record<string, string> = {
      [BUNDLE_LABEL]: '1',
      'agentix.version': agentixVersion(),
      'agentix.tools': toolNames.join(','),
      'agentix.platform': formatPlatform(platform),
    };
    if (Object.keys(tools.env).length > 0) labels[BUNDLE_ENV_LABEL] = JSON.stringify(tools.env);
    const spec = { platform, layers, env: [`PATH=${RUNTIME_BIN}`], labels, volumes: [NIX_ROOT], epoch };
    const config = imageConfig(spec);

    if (out) await progress(`write ${out}`, () => pipeline(archiveStream(spec, config, [tag]), createWriteStream(out)));
    if (docker) {
      const d = docker;
      await progress((how: string) => `load image ${tag} (${how})`, () => loadArchive(d, () => archiveStream(spec, config, [tag]), config.id, tag));
    }
    let pushed: Pushed | undefined;
    if (opts.push && docker) {
      const d = docker;
      pushed = await progress((p: Pushed) => `push ${p.reference}`, () => pushBundle(d, tag).catch((err: Error) => Promise.reject(friendly(err.message))));
    }
    pruneLayers(layersDir, layers);
    pruneRuntimeCache(cacheDir, runtimeLayer.file);
    return { imageId: config.id, tag, archive: out, layers: layers.map(({ name, digest, size }) => ({ name, digest, size })), pushed };
  } finally {
    rmSync(stageDir, { recursive: true, force: true });
  }
}

async function manifestOf(projectDir: string, generate: boolean): Promise<{ manifest: Manifest; note: string }> {
  if (!generate) return { manifest: await loadProjectManifest(projectDir, { generate: false }), note: ` (existing ${GEN_DIR}/manifest.json)` };
  try {
    return { manifest: await loadProjectManifest(projectDir, { generate: true }), note: '' };
  } catch (err) {
    // The compiler is optional at build time only in one case: it is not installed (a trimmed install).
    const code = (err as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' || !existsSync(join(projectDir, GEN_DIR, 'manifest.json'))) throw err;
    return { manifest: await loadProjectManifest(projectDir, { generate: false }), note: ` (compiler unavailable: existing ${GEN_DIR}/manifest.json)` };
  }
}

async function runtimeLayerFor(
  nodeBinary: string,
  tools: ToolFiles,
  runtimeJs: RuntimeJs,
  stageDir: string,
  layersDir: string,
  epoch: number,
): Promise<LayerInfo & { cached: boolean }> {
  const jsDir = dirname(runtimeJs.server);
  const jsEntries: LayerEntry[] = [
    ...runtimeJs.files.map((f): LayerEntry => ({ kind: 'data', path: `${APP_RUNTIME_DIR}/${f}`, data: readFileSync(join(jsDir, f)) })),
    // the runtime files are ESM whatever the app's package.json says
    { kind: 'data', path: `${APP_RUNTIME_DIR}/package.json`, data: '{"type":"module"}\n' },
    { kind: 'data', path: SANDBOX_ENV, data: sandboxEnvSource(tools.env) },
  ];
  const key = createHash('sha256');
  const stamp = (f: string) => {
    const st = statSync(f);
    key.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  };
  key.update(`format ${RUNTIME_LAYER_FORMAT} epoch ${epoch}\n`);
  stamp(nodeBinary);
  for (const f of [...tools.programs.entries()].sort()) key.update(f[0] + '\0'), stamp(f[1]);
  for (const [dir, helpers] of [...tools.libexec.entries()].sort()) for (const [n, f] of [...helpers.entries()].sort()) key.update(`${dir}/${n}\0`), stamp(f);
  // any package install or library change on the host invalidates the cache, which lists no library itself
  for (const f of ['/var/lib/dpkg/status', '/etc/ld.so.cache']) if (existsSync(f)) stamp(f);
  for (const e of jsEntries) if (e.kind === 'data') key.update(`${e.path}\0`), key.update(e.data);
  const cacheFile = join(layersDir, `runtime-${key.digest('hex').slice(0, 32)}.tar`);
  const meta = `${cacheFile}.json`;
  if (existsSync(cacheFile) && existsSync(meta)) {
    const info = JSON.parse(readFileSync(meta, 'utf8')) as LayerInfo;
    if (statSync(cacheFile).size === info.size) {
      const now = new Date();
      utimesSync(cacheFile, now, now); // most recently used: kept by pruneRuntimeCache
      return { ...info, file: cacheFile, cached: true };
    }
  }
  const native = await wrapAsync(() => assembleNative(nodeBinary, tools, join(stageDir, 'native')));
  // Unique per build, not per process: two builds in one process sharing the cache would
  // otherwise write one temp file and the second rename would fail. Removed on failure too
  // (it is ~110 MiB); a killed build's is swept by the next build (sweepDeadBuilds).
  const tmp = `${cacheFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const info = await writeLayer([...native, ...jsEntries], tmp, epoch);
    renameSync(tmp, cacheFile);
    writeFileSync(meta, JSON.stringify({ digest: info.digest, size: info.size }));
    return { ...info, file: cacheFile, cached: false };
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Removes what builds killed mid-way left in `dir`: stage dirs (copies of node
 * and the tools) and temp layer files, whose names carry the builder's pid. A
 * live process's are kept (it may be building right now). Pids are of this host:
 * a build dir shared between hosts over a network file system is not supported.
 */
function sweepDeadBuilds(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^stage-(\d+)-[0-9a-f]+$/.exec(name) ?? /^(?:layer-|runtime-[0-9a-f]+\.tar\.)(\d+)(?:[-.][0-9a-f]+)?\.tmp$/.exec(name);
    if (m && !processAlive(Number(m[1]))) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

async function writeLayerFile(layersDir: string, entries: LayerEntry[], epoch: number): Promise<LayerInfo> {
  const tmp = join(layersDir, `layer-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    const info = await writeLayer(entries, tmp, epoch);
    const file = join(layersDir, `${info.digest.replace(/^sha256:/, '')}.tar`);
    renameSync(tmp, file);
    return { ...info, file };
  } finally {
    rmSync(tmp, { force: true });
  }
}

function appEntries(runDir: string): LayerEntry[] {
  const entries: LayerEntry[] = [
    { kind: 'file', path: `${APP_DIR}/manifest.json`, source: join(runDir, 'manifest.json'), executable: false },
    { kind: 'file', path: `${APP_DIR}/package.json`, source: join(runDir, 'package.json'), executable: false },
  ];
  const walk = (dir: string, dest: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p, `${dest}/${name}`);
      else entries.push({ kind: 'file', path: `${dest}/${name}`, source: p, executable: false });
    }
  };
  walk(join(runDir, 'modules'), `${APP_DIR}/modules`);
  return entries;
}

/** Keeps the project's layer files to what the last build used (runtime layers: see pruneRuntimeCache). */
function pruneLayers(layersDir: string, used: LayerInfo[]): void {
  const keep = new Set(used.map((l) => l.file));
  for (const name of readdirSync(layersDir)) {
    const p = join(layersDir, name);
    if (!keep.has(p) && !name.startsWith('runtime-') && !name.endsWith('.tmp')) rmSync(p, { force: true });
  }
}

/** Keeps the few most recently used runtime layers (a shared cache serves several node/tool sets). */
const RUNTIME_CACHE_KEEP = 3;
function pruneRuntimeCache(cacheDir: string, justUsed: string): void {
  const layers = readdirSync(cacheDir)
    .filter((n) => /^runtime-[0-9a-f]+\.tar$/.test(n))
    .map((n) => join(cacheDir, n))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const old of layers.filter((f) => f !== justUsed).slice(RUNTIME_CACHE_KEEP - 1)) {
    rmSync(old, { force: true });
    rmSync(`${old}.json`, { force: true });
  }
}

let version: string | undefined;
function agentixVersion(): string {
  return (version ??= (JSON.parse(readFileSync(join(agentixRoot(), 'package.json'), 'utf8')) as { version: string }).version);
}

/** Input errors become friendly (printed without a stack by the CLI). */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw friendly((err as Error).message);
  }
}
async function wrapAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw friendly((err as Error).message);
  }
}
