/**
 * Starting our own entry points as child processes works the same from source
 * (under tsx: `.ts` files, `--import tsx` in execArgv) and from the build
 * (`.js` files). These two helpers keep that rule in one place.
 */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** The file `relative` (written without extension) next to `fromUrl`, with the caller's own extension. */
export function siblingEntry(fromUrl: string, relative: string): string {
  const here = fileURLToPath(fromUrl);
  const ext = /\.(ts|mts|js|mjs)$/.exec(here)?.[1] ?? 'js';
  return resolve(here, '..', `${relative}.${ext}`);
}

/**
 * This process's node flags (`--import tsx` under tsx, memory limits, …) minus
 * the ones a child must not inherit: a debugger port would clash, and an
 * `-e script` or `--test` would run instead of the child's own entry.
 */
export function childExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++; // and its script
      continue;
    }
    if (/^(--inspect|--debug|--eval=|--print=|--input-type|--test|--watch)/.test(a)) continue;
    // `--import tsx` is resolved from the working directory, and a child may run elsewhere (a project in /tmp):
    // hand it the loader's absolute URL instead.
    const next = args[i + 1];
    if ((a === '--import' || a === '--loader' || a === '--experimental-loader') && next && !/^[./]|^file:/.test(next)) {
      out.push(a, import.meta.resolve(next));
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}
