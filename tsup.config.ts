import { defineConfig } from 'tsup';

// Every process entry is its own file in dist/, with the same relative layout
// as the sources, so `siblingEntry()` finds worker-main next to worker-process.
export default defineConfig({
  entry: {
    index: 'index.ts',
    'cli/main': 'cli/main.ts',
    'runtime/server-main': 'runtime/server-main.ts',
    'runtime/worker-main': 'runtime/worker-main.ts',
    'runtime/sandbox-api': 'runtime/sandbox-api.ts',
  },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  outDir: 'dist',
  splitting: true,
  clean: true,
  dts: { entry: { index: 'index.ts' } },
  sourcemap: true,
  shims: false,
});
