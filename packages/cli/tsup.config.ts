import { defineConfig } from 'tsup';

export default defineConfig({
  // The `prismq` command: one file, its shebang kept (tsup makes it executable); the dependencies
  // (@prismq/client, commander, …) stay imports, resolved from node_modules.
  entry: ['src/main.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  clean: true,
  sourcemap: true,
});
