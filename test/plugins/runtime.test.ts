/**
 * The bash and files plugins through the runtime on the host: `agentix serve`
 * (gen + compile + server + worker, as real child processes on 127.0.0.1)
 * on a fixture project that keeps the default plugins, called with
 * RuntimeClient. The same bodies run against Docker sandboxes (suite.ts).
 */
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeClient } from '../../index.js';
import { repoRoot, serve } from '../support/serve.js';
import { pluginSuite } from './suite.js';

const fixture = join(repoRoot, 'test/plugins/fixture');

pluginSuite('plugins through agentix serve', async () => {
  // A copy, so gen and compile write into a temp dir and not into the source tree. Its
  // node_modules points at ours: `serve` leaves bare imports (tar-stream) to the project's.
  const project = await mkdtemp(join(tmpdir(), 'agentix-plugins-project-'));
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    await cp(fixture, project, { recursive: true });
    await symlink(join(repoRoot, 'node_modules'), join(project, 'node_modules'));
    server = await serve(project, { timeoutMs: 120_000 });
    const client = await RuntimeClient.connect(server.url, { token: server.token });
    const s = server;
    return {
      client,
      cleanup: async () => {
        try {
          await client.close();
          await s.stop();
        } finally {
          await rm(project, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await server?.stop();
    await rm(project, { recursive: true, force: true });
    throw err;
  }
}).run();
