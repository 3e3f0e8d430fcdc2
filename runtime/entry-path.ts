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

/** This process's node flags minus the ones a child must not inherit (a debugger port would clash). */
export function childExecArgv(): string[] {
  return process.execArgv.filter((a) => !/^--inspect|^--debug/.test(a));
}
