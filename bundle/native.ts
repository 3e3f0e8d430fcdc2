/**
 * Assembles the native part of the runtime layer: node and the `--tools`
 * programs, their shared libraries and the dynamic loader, copied from the
 * build host into a staging directory and patched to load only from
 * /nix/runtime/lib (see elf.ts). The result runs in an image without libc.
 */
import { chmodSync, copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { elfClosure, patchExecutable, patchLibrary, type SharedLib } from './elf.js';
import type { LayerEntry } from './layer.js';
import { RUNTIME_BIN, RUNTIME_LIB } from './layout.js';
import type { ToolFiles } from './tools.js';

/** Libraries left unpatched: the loader has no rpath to speak of, and libc needs nothing but the loader. */
const KEEP_AS_IS = /^(ld-linux.*|ld64\.so.*|libc\.so\.\d+)$/;

export async function assembleNative(nodeBinary: string, tools: ToolFiles, stageDir: string): Promise<LayerEntry[]> {
  const binDir = join(stageDir, 'bin');
  const libDir = join(stageDir, 'lib');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(libDir, { recursive: true });

  // bundle path → host file, for every executable we ship
  const executables = new Map<string, string>([[`${RUNTIME_BIN}/node`, nodeBinary]]);
  for (const [name, file] of tools.programs) if (name !== 'node') executables.set(`${RUNTIME_BIN}/${name}`, file);
  for (const [dir, helpers] of tools.libexec)
    for (const [name, file] of helpers) executables.set(`/nix/runtime/libexec/${dir}/${name}`, file);

  const libs = new Map<string, SharedLib>();
  let loader: SharedLib | undefined;
  const closures = await Promise.all([...executables.values()].map((f) => elfClosure(f)));
  for (const c of closures) {
    if (c.loader) {
      if (loader && loader.soname !== c.loader.soname) throw new Error(`binaries use two different dynamic loaders (${loader.soname}, ${c.loader.soname})`);
      loader ??= c.loader;
    }
    for (const l of c.libs) {
      const seen = libs.get(l.soname);
      if (seen && seen.hostPath !== l.hostPath) throw new Error(`two different files provide ${l.soname}: ${seen.hostPath} and ${l.hostPath}`);
      libs.set(l.soname, l);
    }
  }
  if (!loader) throw new Error(`${nodeBinary} has no dynamic loader (a static node?): nothing to patch, which this build does not expect`);

  const entries: LayerEntry[] = [];
  const staged = async (bundlePath: string, hostFile: string, patch: (f: string) => Promise<void> | void) => {
    const out = join(stageDir, bundlePath.replace(/^\/nix\/runtime\//, '').replace(/\//g, '__'));
    copyFileSync(hostFile, out);
    chmodSync(out, 0o755);
    await patch(out);
    entries.push({ kind: 'file', path: bundlePath, source: out, executable: true });
  };

  await staged(`${RUNTIME_LIB}/${loader.soname}`, loader.hostPath, () => undefined);
  const loaderName = loader.soname;
  // One program under many names (git's builtins are hard links of git): ship it
  // once and link the other names to it (they dispatch on argv[0], which a link keeps).
  const firstByInode = new Map<string, string>();
  const unique: [string, string][] = [];
  for (const [bundlePath, host] of [...executables].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const st = statSync(host);
    const inode = `${st.dev}:${st.ino}`;
    const first = firstByInode.get(inode);
    if (first) entries.push({ kind: 'symlink', path: bundlePath, target: first });
    else {
      firstByInode.set(inode, bundlePath);
      unique.push([bundlePath, host]);
    }
  }
  await Promise.all([
    ...[...libs.values()].map((l) => staged(`${RUNTIME_LIB}/${l.soname}`, l.hostPath, (f) => (KEEP_AS_IS.test(l.soname) ? undefined : patchLibrary(f)))),
    ...unique.map(([bundlePath, host]) => staged(bundlePath, host, (f) => patchExecutable(f, loaderName))),
  ]);
  return entries;
}
