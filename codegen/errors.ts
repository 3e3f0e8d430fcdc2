/**
 * The errors `agentix gen` throws for a user mistake. Their messages are
 * already written for the user (file:line, the offending type, what to do), so
 * the CLI prints them as they are, without a stack trace.
 */
import { AgentixError } from '../runtime/wire/errors.js';

/** Why a type was refused: `unresolved` (a name the checker could not resolve), `wire` (a value that cannot cross the wire: a function, a class instance, a symbol). */
export type RefusalCode = 'unresolved' | 'wire';

export class GenError extends AgentixError {
  // An AgentixError: cli/main.ts prints its message without a stack (serve and build call the compiler too).
  override readonly name: string = 'GenError';
  /** The message without the `file:line: ` prefix. */
  declare readonly detail: string;
  constructor(
    /** Or a function making it, called only if the message is read (many refusals are caught and dropped unread). */
    message: string | (() => string),
    /** File relative to the project root (or absolute when outside it). */
    readonly file?: string,
    /** 1-based line number. */
    readonly line?: number,
    /** Why the type was refused, when it was a type. */
    readonly refusal?: RefusalCode,
  ) {
    super('INVALID_ARGUMENT', '');
    let made: string | undefined;
    const detail = () => (made ??= typeof message === 'string' ? message : message());
    Object.defineProperty(this, 'detail', { get: detail, enumerable: false });
    Object.defineProperty(this, 'message', { get: () => (file ? `${file}${line ? `:${line}` : ''}: ${detail()}` : detail()), enumerable: false, configurable: true });
  }
}

/** One refused export: where it is exported, and the GenError saying which type and why. */
export interface Refusal {
  /** Target name (`run`, `bash.run`). */
  export: string;
  /** The export statement (or declaration) in the module: `src/index.ts`, 12. */
  site: { file: string; line: number };
  /** The offending type's location and the reason. */
  error: GenError;
}

/** `src/index.ts:12: export differenceInDays: node_modules/date-fns/x.d.ts:40: parameter "options" …: reason`. */
export function refusalLine(r: Refusal): string {
  const head = `${r.site.file}:${r.site.line}: export ${r.export}`;
  const e = r.error;
  const same = e.file === r.site.file && e.line === r.site.line;
  return `${head}: ${same ? e.detail : e.message}`;
}

/** Every refused export of one run, one line each (thrown after the whole project was analysed). */
export class RefusedExportsError extends GenError {
  constructor(readonly refusals: Refusal[]) {
    const lines = refusals.map(refusalLine);
    const n = new Set(refusals.map((r) => r.export)).size;
    super(
      `${n} export${n === 1 ? '' : 's'} refused (fix ${n === 1 ? 'it' : 'them'}, or leave ${n === 1 ? 'it' : 'them'} out with package.json "agentix": { "exclude": [...] }):\n` +
        lines.map((l) => `  ${l}`).join('\n'),
      refusals[0]?.site.file,
      refusals[0]?.site.line,
    );
  }
}

/**
 * Thrown inside the fast pass (no Node typings) when its answer might differ
 * from the thorough one: an unresolved name, an `any` nobody wrote. The
 * analysis starts again with the thorough pass; never seen by users.
 */
export class NeedsFullPass extends Error {
  override name = 'NeedsFullPass';
}
