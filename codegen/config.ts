/**
 * Reads a project's `package.json` → `"agentix"` settings: the entry module
 * and the plugins, and finds this agentix package's own root (for the
 * built-in plugins and for resolving `'agentix'` without a build).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GenError } from './errors.js';

export const APP_MODULE = 'app';
export const DEFAULT_ENTRY = 'src/index.ts';
export const DEFAULT_PLUGINS = ['bash', 'files'];
const BUILTIN_PLUGINS = new Set(DEFAULT_PLUGINS);

export interface ModuleSource {
  /** `app` or the plugin's namespace. */
  id: string;
  /** Absolute path of the module's source. */
  file: string;
  /** For messages: what pulled this module in. */
  origin: string;
}

export interface ProjectConfig {
  projectDir: string;
  modules: ModuleSource[];
  /** Target names (`name`, `plugin.name`) left out on purpose: `"agentix": { "exclude": [...] }`. */
  exclude: string[];
}

/** The agentix package root: the nearest package.json named "agentix" above this file. */
export function agentixRoot(): string {
  const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)), 'agentix');
  if (!root) throw new Error('agentix gen: cannot find the agentix package root above ' + fileURLToPath(import.meta.url));
  return root;
}

export function findPackageRoot(start: string, name?: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (name === undefined || readJson(pkg)?.name === name)) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function loadConfig(projectDir: string, warnings: string[]): ProjectConfig {
  const dir = resolve(projectDir);
  const pkgFile = join(dir, 'package.json');
  let settings: Record<string, unknown> = {};
  if (existsSync(pkgFile)) {
    let pkg: unknown;
    try {
      pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    } catch (err) {
      throw new GenError(`not valid JSON: ${(err as Error).message}`, 'package.json');
    }
    const a = isObject(pkg) ? pkg.agentix : undefined;
    if (a !== undefined && !isObject(a)) throw new GenError('"agentix" must be an object like { "entry": "src/index.ts" }', 'package.json');
    settings = a ?? {};
  } else if (!existsSync(dir)) {
    throw new GenError(`project directory ${dir} does not exist`);
  }
  const entryRel = settings.entry ?? DEFAULT_ENTRY;
  if (typeof entryRel !== 'string') throw new GenError('"agentix.entry" must be a path string', 'package.json');
  const entry = resolve(dir, entryRel);
  if (!existsSync(entry)) {
    throw new GenError(`entry module ${entryRel} does not exist (set "agentix": { "entry": "..." } in package.json)`, existsSync(pkgFile) ? 'package.json' : undefined);
  }
  const modules: ModuleSource[] = [{ id: APP_MODULE, file: entry, origin: 'entry' }];
  const plugins = settings.plugins ?? DEFAULT_PLUGINS;
  if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== 'string')) {
    throw new GenError('"agentix.plugins" must be an array of plugin names (npm packages, or "bash" / "files")', 'package.json');
  }
  for (const spec of plugins as string[]) {
    const found = resolvePlugin(spec, dir, warnings);
    if (!found) continue;
    if (found.id === APP_MODULE || modules.some((m) => m.id === found.id)) {
      throw new GenError(`plugin "${spec}" uses the namespace "${found.id}", which is already taken`, 'package.json');
    }
    modules.push(found);
  }
  const exclude = settings.exclude ?? [];
  if (!Array.isArray(exclude) || exclude.some((e) => typeof e !== 'string' || e === '')) {
    throw new GenError('"agentix.exclude" must be an array of export names ("name", or "plugin.name" for a plugin\'s function)', 'package.json');
  }
  return { projectDir: dir, modules, exclude: [...new Set(exclude as string[])].sort() };
}

function resolvePlugin(spec: string, projectDir: string, warnings: string[]): ModuleSource | undefined {
  if (BUILTIN_PLUGINS.has(spec)) {
    const file = join(agentixRoot(), 'plugins', spec, 'index.ts');
    if (!existsSync(file)) {
      warnings.push(`built-in plugin "${spec}" is not available (${file} is missing); skipped`);
      return undefined;
    }
    return { id: spec, file, origin: `built-in plugin "${spec}"` };
  }
  // A relative path names a local plugin package; anything else is an npm package in node_modules.
  const pkgDir = spec.startsWith('.') || isAbsolute(spec) ? resolve(projectDir, spec) : findInNodeModules(spec, projectDir);
  if (!pkgDir || !existsSync(join(pkgDir, 'package.json'))) {
    throw new GenError(`plugin "${spec}" is not installed (no node_modules/${spec}/package.json above the project); add it to the project's dependencies and install`, 'package.json');
  }
  const pkg = readJson(join(pkgDir, 'package.json'));
  const a = pkg?.agentix;
  if (!isObject(a) || typeof a.plugin !== 'string') {
    throw new GenError(`package "${spec}" is not an agentix plugin: its package.json needs "agentix": { "plugin": "<namespace>", "entry": "src/index.ts" }`, 'package.json');
  }
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(a.plugin)) {
    throw new GenError(`plugin "${spec}": namespace ${JSON.stringify(a.plugin)} must be an identifier`, 'package.json');
  }
  const entry = typeof a.entry === 'string' ? a.entry : DEFAULT_ENTRY;
  const file = resolve(pkgDir, entry);
  if (!existsSync(file)) throw new GenError(`plugin "${spec}": entry ${entry} does not exist in ${pkgDir}`, 'package.json');
  return { id: a.plugin, file, origin: `plugin "${spec}"` };
}

function findInNodeModules(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
