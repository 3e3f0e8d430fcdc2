/**
 * Errors of the built-in plugins (bash, files). Their own fields (`code`, `path`, ...) travel
 * to the caller in `RemoteError.data`.
 *
 * Not an entry module: nothing here is callable remotely.
 */

export function codeError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** The error for a path outside the root. */
export function outsideError(path: string, root: string): Error & { code: string } {
  return Object.assign(new Error(`path "${path}" escapes the files root "${root}"`), { code: 'EOUTSIDE', path, root });
}

/** The error a call ends with when its AbortSignal fired. */
export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('the call was cancelled'), { name: 'AbortError', code: 'ABORT_ERR' });
}
