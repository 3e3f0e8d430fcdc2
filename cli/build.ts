/**
 * `agentix build [dir] -t NAME:TAG`: the project's bundle image (see
 * bundle/index.ts), loaded into the Docker engine and/or written as a
 * docker-archive; `--nix` builds the same bundle with the Nix expressions in
 * nix/ instead.
 */
import { resolve } from 'node:path';
import { buildBundle, DEFAULT_TOOLS, KNOWN_TOOLS, parseTools } from '../bundle/index.js';
import { buildWithNix } from '../bundle/nix.js';
import { CliError, parse } from './args.js';

const HELP = `usage: agentix build [dir] -t NAME:TAG [--out FILE.tar] [--load] [--push] [--platform P] [--tools LIST] [--no-gen] [--nix]

Builds the bundle image of the project in dir (default .): an image whose only
content is /nix (node with its own libc, the agentix runtime, the project's
dependencies and code), declared VOLUME /nix. Deployments overlay it onto any
task image.

  -t, --tag NAME:TAG   image name (tag defaults to latest)
  --out FILE.tar       write the docker-archive (docker load -i FILE.tar); without
                       --load the image is then not loaded into the engine
  --load               load into the engine also when --out is given
  --push               also push to the registry NAME names (e.g. -t registry.example/proj:1),
                       with Docker's stored credentials (DOCKER_CONFIG, docker login), and
                       print the digest reference (REGISTRY/PROJ@sha256:…) to use as bundle
  --platform P         only the host's platform (e.g. linux/amd64) can be built
  --tools LIST         system tools for /nix/runtime/bin, comma separated, or none
                       (default ${DEFAULT_TOOLS.join(',')}; known: ${Object.keys(KNOWN_TOOLS).join(', ')})
  --no-gen             use the existing agentix-gen/manifest.json instead of regenerating it
  --nix                build with nix-build and nix/ (needs Nix on this host)

Environment: SOURCE_DATE_EPOCH sets the timestamp of every file (default 0);
DOCKER_HOST selects the engine.
`;

export async function main(argv: string[]): Promise<number> {
  const args = parse('build', argv, {
    tag: { type: 'string', short: 't' },
    out: { type: 'string' },
    load: { type: 'boolean' },
    push: { type: 'boolean' },
    platform: { type: 'string' },
    tools: { type: 'string' },
    'no-gen': { type: 'boolean' },
    nix: { type: 'boolean' },
  }, HELP);
  if (!args) return 0;
  if (args.positionals.length > 1) throw new CliError(`build: expected at most one project directory, got ${args.positionals.join(' ')}`);
  const projectDir = resolve(args.positionals[0] ?? '.');
  const tag = args.values.tag;
  if (!tag) throw new CliError('build: -t NAME:TAG is required (e.g. -t myproj:0.1.0)');
  const tools = args.values.tools !== undefined ? parseTools(args.values.tools) : undefined;
  const say = (line: string) => process.stderr.write(`agentix build: ${line}\n`);
  const t0 = performance.now();

  if (args.values.nix && args.values.push) throw new CliError('build: --push is not available with --nix yet: build with --nix, then docker push the tag');
  if (args.values.nix) {
    const result = await buildWithNix({ projectDir, tag, out: args.values.out, tools, load: args.values.load ?? !args.values.out, onProgress: (s, ms) => say(`${s} (${ms} ms)`) });
    process.stdout.write(`${result.tag} ${result.imageId ?? ''}\n`);
    return 0;
  }

  const result = await buildBundle({
    projectDir,
    tag,
    out: args.values.out,
    load: args.values.load ?? !args.values.out,
    push: args.values.push,
    platform: args.values.platform,
    tools,
    generate: !args.values['no-gen'],
    onProgress: (step, ms) => say(`${step} (${ms} ms)`),
  });
  for (const l of result.layers) say(`layer ${l.name.padEnd(12)} ${l.digest.slice(7, 19)} ${(l.size / 1048576).toFixed(1)} MiB`);
  say(`done in ${Math.round(performance.now() - t0)} ms: ${result.tag} ${result.imageId}${result.archive ? ` (${result.archive})` : ''}`);
  // stdout: just the result, for scripts (with --push: the reference to use as bundle)
  if (result.pushed) say(`pushed ${result.pushed.reference}`);
  process.stdout.write(result.pushed ? `${result.pushed.reference}\n` : `${result.tag} ${result.imageId}\n`);
  return 0;
}
