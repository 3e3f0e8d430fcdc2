/**
 * Where things live inside a bundle image. Everything is under /nix so that a
 * deployment can overlay it onto any task image with one read-only volume.
 * Every other module (the image writer, the Docker deployment, the Nix
 * expressions by convention) takes its paths from here.
 */
import { DEFAULT_PORT } from '../runtime/wire/limits.js';

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

/**
 * Preloaded (`node --import`) before the server and every worker: applies the
 * bundle's own environment rule inside the sandbox (see sandbox-env.ts), so
 * no deployment needs to read the task image's PATH or the bundle's labels.
 */
export const SANDBOX_ENV = `${APP_RUNTIME_DIR}/sandbox-env.js`;

/** The command a sandbox runs, whatever the deployment: the bundled node, the env preload, the bundled server, the run dir. */
export const ENTRYPOINT: readonly string[] = [NODE_PATH, '--import', SANDBOX_ENV, SERVER_MAIN, APP_DIR];

/** The runtime server's port inside a sandbox container (what AGENTIX_BIND_PORT is set to, and what is published or forwarded). */
export const SANDBOX_PORT = DEFAULT_PORT;

/** Labels written into every bundle image's config. */
export const BUNDLE_LABEL = 'agentix.bundle-image';
/** Bundle image label holding extra environment its tools need (JSON object), e.g. GIT_EXEC_PATH; informational (the preload applies it). */
export const BUNDLE_ENV_LABEL = 'agentix.bundle-env';
