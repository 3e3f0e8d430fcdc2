/**
 * The one error type `agentix gen` throws for a user mistake. Its message is
 * already written for the user (file:line, the offending type, what to do), so
 * the CLI prints it as is, without a stack trace.
 */
export class GenError extends Error {
  override name = 'GenError';
  /** cli/main.ts prints errors marked friendly without a stack (serve and build call the compiler too). */
  readonly friendly = true;
  constructor(
    message: string,
    /** File relative to the project root (or absolute when outside it). */
    readonly file?: string,
    /** 1-based line number. */
    readonly line?: number,
    /** `unresolved`: a type the checker could not resolve (the analysis retries with Node's types before reporting it). */
    readonly code?: 'unresolved',
  ) {
    super(file ? `${file}${line ? `:${line}` : ''}: ${message}` : message);
  }
}
