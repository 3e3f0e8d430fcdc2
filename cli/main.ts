#!/usr/bin/env node
/**
 * `agentix <command>`: dispatches to cli/<command>.ts, each exporting
 * `main(argv): Promise<number>`. Commands are imported lazily so `agentix serve`
 * never loads the compiler's TypeScript or dockerode unless it needs them.
 */
import { AgentixError } from '../runtime/wire/errors.js';
import { CliError } from './args.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> }> = {
  gen: { summary: 'generate the manifest, typed client stubs and validators', load: () => import('./gen.js') },
  serve: { summary: 'serve a project directory over WebSocket (development, local deployment)', load: () => import('./serve.js') },
  build: { summary: 'build the /nix bundle image of a project', load: () => import('./build.js') },
  gc: { summary: 'remove sandboxes and carriers left behind by a crashed host', load: () => import('./gc.js') },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)}${c.summary}`);
  return `usage: agentix <command> [options]\n\ncommands:\n${rows.join('\n')}\n\nRun agentix <command> --help for a command's options.\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write('0.1.0\n');
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`agentix: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).main(rest);
}

try {
  const code = await run(process.argv.slice(2));
  // serve keeps running: it sets no exit code and exits on a signal.
  if (code !== -1) process.exitCode = code;
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`agentix: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else if (err instanceof AgentixError) {
    process.stderr.write(`agentix: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`agentix: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
