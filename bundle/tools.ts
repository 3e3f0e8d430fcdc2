/**
 * `--tools`: system programs copied into /nix/runtime/bin next to node, for
 * plugins and user code that shell out in task images that lack them. Each
 * tool name maps to a Debian package of the build host and the programs of
 * that package we take; only ELF programs are copied (a shell script would
 * run with the task image's interpreter, which may not exist).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { isElf } from './elf.js';

const run = promisify(execFile);

interface ToolSpec {
  /** Debian package that provides the programs. */
  pkg: string;
  /** Program names; `'*'` = every ELF program the package installs in a bin directory. */
  programs: string[] | '*';
  /** Extra directory of helper programs, copied to /nix/runtime/libexec/<name>. */
  libexec?: { hostDir: string; name: string; env: string };
}

export const KNOWN_TOOLS: Readonly<Record<string, ToolSpec>> = {
  bash: { pkg: 'bash', programs: ['bash'] },
  coreutils: { pkg: 'coreutils', programs: '*' },
  grep: { pkg: 'grep', programs: ['grep'] },
  sed: { pkg: 'sed', programs: ['sed'] },
  findutils: { pkg: 'findutils', programs: ['find', 'xargs'] },
  diffutils: { pkg: 'diffutils', programs: ['diff', 'cmp', 'diff3', 'sdiff'] },
  tar: { pkg: 'tar', programs: ['tar'] },
  gzip: { pkg: 'gzip', programs: ['gzip'] },
  patch: { pkg: 'patch', programs: ['patch'] },
  procps: { pkg: 'procps', programs: ['ps', 'kill', 'pgrep', 'pkill', 'free', 'top'] },
  // git runs its subcommands from an exec path compiled in as /usr/lib/git-core;
  // the bundle carries them and the deployment sets GIT_EXEC_PATH.
  git: { pkg: 'git', programs: ['git'], libexec: { hostDir: '/usr/lib/git-core', name: 'git-core', env: 'GIT_EXEC_PATH' } },
};

export const DEFAULT_TOOLS = ['bash', 'coreutils'];

export interface ToolFiles {
  /** program name in /nix/runtime/bin → host file */
  programs: Map<string, string>;
  /** libexec dir name → (file name → host file) */
  libexec: Map<string, Map<string, string>>;
  /** environment the runtime should get so the tools find their helpers */
  env: Record<string, string>;
}

/** Parses a `--tools` value: comma separated, order and duplicates don't matter, `none` or empty means no tools. */
export function parseTools(value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
  return [...new Set(names)].sort();
}

/** Refuses names that are not in KNOWN_TOOLS, listing the known ones. */
export function checkToolNames(names: string[]): void {
  const unknown = names.filter((n) => !Object.hasOwn(KNOWN_TOOLS, n));
  if (unknown.length > 0)
    throw new Error(`unknown tool${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} in --tools; known tools: ${Object.keys(KNOWN_TOOLS).join(', ')}`);
}

export async function resolveTools(names: string[]): Promise<ToolFiles> {
  checkToolNames(names);
  const out: ToolFiles = { programs: new Map(), libexec: new Map(), env: {} };
  for (const name of [...names].sort()) {
    const spec = KNOWN_TOOLS[name];
    const files = await packageFiles(name, spec.pkg);
    const wanted = spec.programs;
    const bins = files.filter((f) => /\/s?bin\/[^/]+$/.test(f));
    if (wanted === '*') {
      for (const f of bins) addProgram(out, basename(f), f);
    } else {
      for (const prog of wanted) {
        const f = bins.find((b) => basename(b) === prog);
        if (!f) throw new Error(`tool ${name}: package ${spec.pkg} has no program ${prog}`);
        addProgram(out, prog, f);
        if (!out.programs.has(prog)) throw new Error(`tool ${name}: ${f} is not an ELF program`);
      }
    }
    if (spec.libexec) {
      const dir = spec.libexec.hostDir;
      if (!existsSync(dir)) throw new Error(`tool ${name}: ${dir} is missing on this host (reinstall ${spec.pkg})`);
      const helpers = new Map<string, string>();
      for (const f of readdirSync(dir).sort()) {
        const p = join(dir, f);
        const real = realpathSync(p);
        if (statSync(real).isFile() && isElf(real)) helpers.set(f, real);
      }
      out.libexec.set(spec.libexec.name, helpers);
      out.env[spec.libexec.env] = `/nix/runtime/libexec/${spec.libexec.name}`;
    }
  }
  return out;
}

function addProgram(out: ToolFiles, name: string, listed: string): void {
  if (!existsSync(listed)) return;
  const real = realpathSync(listed);
  if (!statSync(real).isFile() || !isElf(real)) return;
  out.programs.set(name, real);
}

async function packageFiles(tool: string, pkg: string): Promise<string[]> {
  try {
    const { stdout } = await run('dpkg', ['-L', pkg]);
    return stdout.split('\n').filter(Boolean);
  } catch (err) {
    const e = err as { code?: string | number };
    if (e.code === 'ENOENT') throw new Error(`tool ${tool}: dpkg not found; --tools needs a Debian or Ubuntu build host (use --tools none elsewhere)`);
    throw new Error(`tool ${tool} needs the Debian package ${pkg} on the build host: apt-get install -y ${pkg}`);
  }
}
