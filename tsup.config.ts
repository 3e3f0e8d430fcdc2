import { defineConfig } from 'tsup';

// One output file per source file (no bundling): dist/ keeps the source
// layout, so entry points found by relative path at run time (the worker next
// to the server, the CLI next to the local deployment, the sandbox API next to
// the compiler) are where the code expects them.
export default defineConfig({
  entry: ['index.ts', 'runtime/**/*.ts', 'cli/**/*.ts', 'codegen/**/*.ts', 'deploy/**/*.ts', 'bundle/**/*.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  outDir: 'dist',
  bundle: false,
  clean: true,
  dts: { entry: { index: 'index.ts' } },
  sourcemap: true,
});
