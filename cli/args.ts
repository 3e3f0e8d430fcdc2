/** Argument parsing for the CLI commands: node's parseArgs with errors a person can act on. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** An error meant for the user: printed as one line, no stack. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(command: string, argv: string[], options: O, help: string) {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help);
    return undefined;
  }
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${command}: ${(err as Error).message}\n\n${help}`);
  }
}

export function intOption(command: string, name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`${command}: --${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}
