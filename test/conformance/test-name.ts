import type { Transcript } from './transcript.js';

/** A transcript's test name: what it shows, its file, and a mark when it records a known disagreement with the doc. */
export const testName = (t: Transcript) => `${t.discrepancy ? '[server disagrees with docs/protocol.md] ' : ''}${t.title} (${t.name}.json)`;
