/**
 * The project's production dependencies, for the dependencies layer. The
 * project's modules are compiled with bare imports left external, so at run
 * time they resolve from /nix/runtime/app/node_modules; this walks the
 * project's `dependencies` (and optional/peer ones that are installed) with
 * Node's own lookup rule and lists every file to copy, keeping each
 * package's place in the node_modules tree. `agentix` itself is left out: the
 * compiler points user imports of it at the runtime's sandbox API.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { LayerEntry } from './layer.js';
import { APP_NODE_MODULES } from './layout.js';

/** Packages never copied: provided by the bundle itself. */
const PROVIDED = new Set(['agentix']);

interface PackageJson {
  name?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function readPackageJson(file: string): PackageJson {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Names of the packages the dependencies layer ships (the project's declared
 * dependencies). Compiling leaves exactly these external; everything else a
 * module imports, such as the built-in plugins' own dependencies, is bundled
 * into the app layer so the sandbox never misses it.
 */
export function shippedPackages(projectDir: string): string[] {
  const file = join(projectDir, 'package.json');
  if (!existsSync(file)) return [];
  const p = readPackageJson(file);
  return Object.keys({ ...p.dependencies, ...p.optionalDependencies, ...p.peerDependencies }).filter((n) => !PROVIDED.has(n)).sort();
}

/** node_modules directories Node would search from `dir`, nearest first. */
function lookupDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (!d.endsWith(`${sep}node_modules`)) out.push(join(d, 'node_modules'));
    if (dirname(d) === d) return out;
  }
}

function findPackage(name: string, fromDir: string): string | undefined {
  for (const nm of lookupDirs(fromDir)) {
    const p = join(nm, name);
    if (existsSync(join(p, 'package.json'))) return p;
  }
  return undefined;
}

export interface DependencyFiles {
  entries: LayerEntry[];
  /** package name@path inside node_modules, for the progress line and tests */
  packages: string[];
}

export function dependencyFiles(projectDir: string): DependencyFiles {
  const pj = join(projectDir, 'package.json');
  if (!existsSync(pj)) return { entries: [], packages: [] };
  const roots = lookupDirs(projectDir);
  const placed = new Map<string, string>(); // path inside node_modules → real source dir
  const entries: LayerEntry[] = [];
  const queue: { name: string; from: string; optional: boolean; requiredBy: string }[] = [];
  const enqueue = (pkg: PackageJson, from: string, requiredBy: string) => {
    for (const name of Object.keys(pkg.dependencies ?? {})) queue.push({ name, from, optional: false, requiredBy });
    for (const name of Object.keys({ ...pkg.optionalDependencies, ...pkg.peerDependencies })) queue.push({ name, from, optional: true, requiredBy });
  };
  enqueue(readPackageJson(pj), projectDir, 'the project');

  while (queue.length > 0) {
    const { name, from, optional, requiredBy } = queue.shift()!;
    if (PROVIDED.has(name)) continue;
    const dir = findPackage(name, from);
    if (!dir) {
      if (optional) continue;
      throw new Error(`dependency ${name} (required by ${requiredBy}) is not installed: run npm install in ${projectDir}`);
    }
    const root = roots.find((r) => dir.startsWith(r + sep));
    if (!root) throw new Error(`dependency ${name} resolved to ${dir}, outside every node_modules the project can see`);
    const inTree = relative(root, dir).split(sep).join('/');
    const real = realpathSync(dir);
    const already = placed.get(inTree);
    if (already !== undefined) {
      if (already !== real) throw new Error(`two different packages want node_modules/${inTree} (${already} and ${real}); flatten the install (npm dedupe)`);
      continue;
    }
    placed.set(inTree, real);
    addTree(real, `${APP_NODE_MODULES}/${inTree}`, entries);
    enqueue(readPackageJson(join(real, 'package.json')), dir, name);
  }
  return { entries, packages: [...placed.keys()].sort() };
}

/** Every file under `src` except its nested node_modules (those are packages of their own). */
function addTree(src: string, dest: string, out: LayerEntry[]): void {
  for (const name of readdirSync(src).sort()) {
    if (name === 'node_modules') continue;
    const p = join(src, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) {
      // links inside a package (rare): copy what they point at, skip dangling ones
      if (!existsSync(p)) continue;
      const target = realpathSync(p);
      if (statSync(target).isDirectory()) addTree(target, `${dest}/${name}`, out);
      else out.push({ kind: 'file', path: `${dest}/${name}`, source: target });
    } else if (st.isDirectory()) addTree(p, `${dest}/${name}`, out);
    else if (st.isFile()) out.push({ kind: 'file', path: `${dest}/${name}`, source: p });
  }
}
