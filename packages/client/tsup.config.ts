import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  clean: true,
  sourcemap: true,
  dts: {
    // The router's types come from the workspace server and database packages, which are not
    // published: compile them from source and inline them, so the declarations stand alone.
    resolve: [/^@prismq\//],
    compilerOptions: {
      paths: {
        '@prismq/server': ['../../apps/server/src/index.ts'],
        '@prismq/db': ['../../packages/db/src/index.ts'],
      },
    },
  },
});
