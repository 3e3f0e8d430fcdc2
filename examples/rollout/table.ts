/** The score table the host program prints at the end of a run. */

export interface Row {
  task: string;
  /** An outcome; `error` when the harness itself failed on this task, `stopped` when the run was interrupted. */
  result: string;
  steps: number;
  /** Seconds until the sandbox answered. */
  startSeconds: number;
  /** Seconds for the whole task: sandbox start, agent, check, sandbox removal. */
  seconds: number;
  detail: string;
}

const COLUMNS = ['task', 'result', 'steps', 'start s', 'total s', 'detail'] as const;

export function scoreTable(rows: Row[]): string {
  const cells = rows.map((r) => [r.task, r.result, String(r.steps), r.startSeconds.toFixed(1), r.seconds.toFixed(1), r.detail]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const right = new Set([2, 3, 4]); // numbers
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** `6 tasks: 3 passed, 1 failed, 1 crashed, 1 timed out` (only the outcomes that occurred, in a fixed order). */
export function summary(rows: Row[]): string {
  const order = ['passed', 'failed', 'crashed', 'timed out', 'error', 'stopped'];
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.result, (counts.get(r.result) ?? 0) + 1);
  const parts = [...counts.keys()].sort((a, b) => order.indexOf(a) - order.indexOf(b)).map((k) => `${counts.get(k)} ${k}`);
  return `${rows.length} task${rows.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}
