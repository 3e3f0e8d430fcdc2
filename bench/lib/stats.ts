/** Small statistics helpers. Durations are kept in nanoseconds (bigint from hrtime) and reported in µs. */

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

export const nsToUs = (ns: number): number => ns / 1000;

/** Rounds for display and JSON: 3 significant digits is all the noise allows. */
export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(v))));
  return scale >= 1 ? Math.round(v * scale) / scale : Math.round(v / (1 / scale)) * (1 / scale);
}
