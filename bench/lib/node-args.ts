/**
 * Node arguments for running the bench's TypeScript in child processes. The
 * tsx loader is given by absolute URL because some children run in temp dirs
 * (project copies) where a bare `--import tsx` would not resolve.
 */
export const TSX_ARGS = ['--import', import.meta.resolve('tsx')];
