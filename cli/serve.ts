/**
 * `agentix serve [dir]`: generate, compile the project's modules into
 * `<dir>/.agentix/run`, and run the runtime server in this process.
 */
import { resolve } from 'node:path';
import { loadProjectManifest, prepareRunDir } from '../bundle/project.js';
import { randomToken } from '../runtime/server/server.js';
import { envLimits, envPort, envToken, runServer } from '../runtime/server/main.js';
import { CliError, intOption, parse } from './args.js';

const HELP = `usage: agentix serve [dir] [--port N] [--host H] [--token T] [--no-gen]

Serves the project in dir (default .) over WebSocket and prints
"agentix: listening on ws://HOST:PORT" once it accepts calls.

  --port N    port (default AGENTIX_BIND_PORT or 8000; 0 picks a free one)
  --host H    address to bind (default AGENTIX_BIND_HOST or 127.0.0.1)
  --token T   token clients must present (default AGENTIX_TOKEN or the file AGENTIX_TOKEN_FILE
              names, else a random one, printed); a --token value is visible to every user in ps
  --workdir D working directory of the user code (default: the project directory)
  --no-gen    use the existing agentix-gen/manifest.json instead of regenerating it
`;

export async function main(argv: string[]): Promise<number> {
  const args = parse('serve', argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    token: { type: 'string' },
    workdir: { type: 'string' },
    'no-gen': { type: 'boolean' },
  }, HELP);
  if (!args) return 0;
  if (args.positionals.length > 1) throw new CliError(`serve: expected at most one project directory, got ${args.positionals.join(' ')}`);
  const projectDir = resolve(args.positionals[0] ?? '.');
  const port = intOption('serve', 'port', args.values.port, 0, 65535) ?? envPort();
  const host = args.values.host ?? process.env.AGENTIX_BIND_HOST ?? '127.0.0.1';
  const given = args.values.token ?? envToken();
  const token = given || randomToken();

  const manifest = await loadProjectManifest(projectDir, { generate: !args.values['no-gen'] });
  const runDir = await prepareRunDir(projectDir, manifest, `serve-${process.pid}`);
  const { lifetimeMs: _lifetime, ...limits } = envLimits();
  await runServer({ runDir, token, port, host, socketPath: process.env.AGENTIX_BIND_SOCKET || undefined, ...limits, cwd: args.values.workdir ? resolve(args.values.workdir) : projectDir }, (url) => `agentix: listening on ${url}${given ? '' : ` (token ${token})`}`);
  return -1;
}
