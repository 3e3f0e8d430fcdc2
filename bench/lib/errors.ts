/** One-line error text for reports: the first line, plus the line that names the cause when the first only introduces it. */
export function briefError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('at '));
  const first = lines[0] ?? 'unknown error';
  if (!first.endsWith(':') || lines.length < 2) return first.slice(0, 400);
  const cause = lines.slice(1).find((l) => /error|cannot|not found|failed|denied|refused/i.test(l)) ?? lines[1];
  return `${first} ${cause}`.slice(0, 400);
}
