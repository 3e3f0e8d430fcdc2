/** Cell formatting shared by the report's tables. */
import { round } from '../lib/stats.js';
import { isFailed, isSkipped } from './types.js';

export const fmt = (v: number | undefined, unit = ''): string => (v === undefined || !Number.isFinite(v) ? '–' : `${round(v).toLocaleString('en-US')}${unit}`);
/** `2.1×` */
export const ratio = (v: number | undefined, floor: number | undefined): string =>
  v === undefined || floor === undefined || !Number.isFinite(v) || !Number.isFinite(floor) || floor === 0 ? '–' : `${round(v / floor, 2)}×`;
/** `56%` */
export const pct = (v: number | undefined, floor: number | undefined): string =>
  v === undefined || floor === undefined || !Number.isFinite(v) || !Number.isFinite(floor) || floor === 0 ? '–' : `${Math.round((v / floor) * 100)}%`;
/** What a figure that is not there was instead. */
export const why = (v: unknown): string => (isFailed(v) ? `failed: ${v.error}` : isSkipped(v) ? `skipped: ${v.skipped}` : 'not measured');
