/**
 * Serves fixtures/fuzz for the fuzz and attack tests, with the fixture's
 * worker log (FUZZ_WORKER_LOG: one pid per worker that loaded the module) in
 * a temporary folder, so restarts are counted exactly. `stop()` also removes
 * the folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, serve, type Served } from '../serve.js';
import { workerLog, workerPidOf } from './proc.js';

export const fuzzProject = join(repoRoot, 'fixtures/fuzz');
export const fuzzManifest = join(fuzzProject, 'agentix-gen/manifest.json');

export interface FuzzServed extends Served {
  /** The server process's pid. */
  pid: number;
  workerLogFile: string;
  /** Pids of every worker started so far, in order. */
  workers(): number[];
  /** The live worker's pid, from /proc. */
  workerPid(): number | undefined;
  /** Folder for this run's files (removed by stop). */
  dir: string;
}

export async function serveFuzz(env: Record<string, string> = {}): Promise<FuzzServed> {
  const dir = mkdtempSync(join(tmpdir(), 'agentix-fuzz-'));
  const workerLogFile = join(dir, 'workers.log');
  let served: Served;
  try {
    served = await serve(fuzzProject, { noGen: true, env: { FUZZ_WORKER_LOG: workerLogFile, ...env } });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pid = served.child.pid!;
  return {
    ...served,
    pid,
    dir,
    workerLogFile,
    workers: () => workerLog(workerLogFile),
    workerPid: () => workerPidOf(pid),
    async stop(signal) {
      try {
        return await served.stop(signal);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
