/**
 * The TypeScript compiler API the analysis uses: the one ts-morph bundles
 * (from `@ts-morph/common`, with the default library's files), loaded with
 * `require`. Importing ts-morph as an ES module would make Node scan its
 * CommonJS source for export names and run ts-morph's own wrappers, none of
 * which the compiler uses: about a tenth of a cold `agentix gen`.
 *
 * Values come from here; types from `import type { ts as TS } from 'ts-morph'`
 * (the same declarations).
 */
import { createRequire } from 'node:module';
import type { ts as TS } from 'ts-morph';

const common = createRequire(import.meta.url)('@ts-morph/common') as {
  ts: typeof TS;
  getLibFiles(): { fileName: string; text: string }[];
};

export const ts = common.ts;
export const getLibFiles = common.getLibFiles;
