/**
 * The ELF side of a portable bundle: find every shared library a binary needs
 * (its closure, from `ldd`), then rewrite the copies so they load only from
 * /nix/runtime/lib: the interpreter becomes our copy of the dynamic loader and
 * DT_RPATH (not RUNPATH: RPATH also covers transitive dependencies and wins
 * over a task image's LD_LIBRARY_PATH) becomes /nix/runtime/lib.
 */
import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { RUNTIME_LIB } from './layout.js';

const run = promisify(execFile);

export interface SharedLib {
  /** The name the binary asks for (DT_NEEDED / soname), e.g. `libc.so.6`. */
  soname: string;
  /** The resolved file on the build host. */
  hostPath: string;
}

export interface ElfClosure {
  /** The dynamic loader (PT_INTERP), e.g. /lib64/ld-linux-x86-64.so.2; undefined for a static binary. */
  loader?: SharedLib;
  libs: SharedLib[];
}

/** True when the file starts with the ELF magic (scripts and data are copied as they are). */
export function isElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** Parses `ldd` output; a missing library is an error naming the binary and the library. */
export function parseLdd(binary: string, text: string): ElfClosure {
  const libs: SharedLib[] = [];
  let loader: SharedLib | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || /statically linked|not a dynamic executable/.test(line)) continue;
    const arrow = /^(\S+)\s+=>\s+(.*)$/.exec(line);
    if (arrow) {
      const [, soname, rest] = arrow;
      if (rest.startsWith('not found')) throw new Error(`${binary} needs ${soname}, which is not installed on this host`);
      const path = /^(\S+)/.exec(rest)?.[1];
      if (!path || !path.startsWith('/')) continue; // vdso and friends: provided by the kernel
      libs.push({ soname, hostPath: realpathSync(path) });
      continue;
    }
    const bare = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (bare) loader = { soname: basename(bare[1]), hostPath: realpathSync(bare[1]) };
  }
  return { loader, libs };
}

export async function elfClosure(binary: string): Promise<ElfClosure> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [binary], { maxBuffer: 4 << 20 }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: string | number };
    if (e.code === 'ENOENT') throw new Error('ldd not found: install libc-bin (it ships with every glibc system)');
    // ldd exits 1 for a static binary ("not a dynamic executable"): that is an empty closure
    if (/not a dynamic executable|statically linked/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`)) return { libs: [] };
    throw new Error(`ldd ${binary} failed: ${(e.stderr ?? String(err)).trim()}`);
  }
  return parseLdd(binary, stdout);
}

/** Points a copied binary at the bundle's loader and libraries. */
export async function patchExecutable(file: string, loaderName: string): Promise<void> {
  await patchelf(['--set-interpreter', `${RUNTIME_LIB}/${loaderName}`, '--force-rpath', '--set-rpath', RUNTIME_LIB, file]);
}

/** Libraries only get the rpath (they have no interpreter). */
export async function patchLibrary(file: string): Promise<void> {
  await patchelf(['--force-rpath', '--set-rpath', RUNTIME_LIB, file]);
}

async function patchelf(args: string[]): Promise<void> {
  try {
    await run('patchelf', args);
  } catch (err) {
    const e = err as { code?: string | number; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('patchelf not found: install it (apt-get install -y patchelf), or run .ci/docker.sh');
    throw new Error(`patchelf ${args.join(' ')} failed: ${(e.stderr ?? String(err)).trim()}`);
  }
}
