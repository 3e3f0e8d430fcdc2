/**
 * Last-resort clean-up: servers run in their own process groups (so that
 * stopping one also stops its children), which also means Ctrl-C does not
 * reach them. Whatever is still registered here when the bench process is
 * interrupted or exits is killed or removed, synchronously.
 */
const actions = new Set<() => void>();

/** Registers a synchronous clean-up; returns the function that unregisters it. */
export function atExit(action: () => void): () => void {
  actions.add(action);
  return () => actions.delete(action);
}

function runAll(): void {
  for (const a of [...actions]) {
    try { a(); } catch { /* best effort */ }
  }
  actions.clear();
}

/** Call once from the entry point. */
export function installExitCleanup(): void {
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping servers and removing temp dirs\n`);
      runAll();
      process.exit(130);
    });
  }
}
