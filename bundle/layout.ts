/**
 * Where things live inside a bundle image. Everything is under /nix so that a
 * deployment can overlay it onto any task image with one read-only volume.
 * Every other module (the image writer, the Docker deployment, the Nix
 * expressions by convention) takes its paths from here.
 */

/** The one directory a bundle image contains (declared `VOLUME /nix`). */
export const NIX_ROOT = '/nix';
/** node and the system tools (`--tools`), each patched to the loader below. */
export const RUNTIME_BIN = '/nix/runtime/bin';
/** The dynamic loader and every shared library of the binaries in RUNTIME_BIN. */
export const RUNTIME_LIB = '/nix/runtime/lib';
/** The run dir the runtime server serves: manifest.json, modules/, package.json. */
export const APP_DIR = '/nix/runtime/app';
/** The bundled runtime: server-main.js and worker-main.js. */
export const APP_RUNTIME_DIR = `${APP_DIR}/runtime`;
/** The project's production dependencies (their own layer). */
export const APP_NODE_MODULES = `${APP_DIR}/node_modules`;

export const NODE_PATH = `${RUNTIME_BIN}/node`;
export const SERVER_MAIN = `${APP_RUNTIME_DIR}/server-main.js`;

/** The command a task container runs: the bundled node, the bundled server, the run dir. */
export const ENTRYPOINT: readonly string[] = [NODE_PATH, SERVER_MAIN, APP_DIR];

/** Labels written into every bundle image's config. */
export const BUNDLE_LABEL = 'agentix.bundle-image';
