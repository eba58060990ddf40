import { defineConfig } from 'tsup';

export default defineConfig({
  // The client (safe to bundle for a browser: no Node.js modules, no process handlers), the same
  // client as Node.js loads it (node:http connections), and, apart, the worker runtime for Node.js
  // (`@prismq/client/worker`).
  entry: ['src/index.ts', 'src/node.ts', 'src/worker.ts'],
  format: ['esm'],
  target: 'node20',
  clean: true,
  sourcemap: true,
  dts: {
    // The router's types come from the workspace API and database packages, which are not
    // published: compile them from source and inline them, so the declarations stand alone.
    resolve: [/^@prismq\//],
    compilerOptions: {
      paths: {
        '@prismq/api': ['../../packages/api/src/index.ts'],
        '@prismq/db': ['../../packages/db/src/index.ts'],
      },
    },
  },
});
