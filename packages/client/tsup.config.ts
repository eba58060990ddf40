import { defineConfig } from 'tsup';

export default defineConfig({
  // The client (safe to bundle for a browser: no Node.js modules, no process handlers), the same
  // client as Node.js loads it (node:http connections), and, apart, the worker runtime for Node.js
  // (`@prismq/client/worker`).
  entry: ['src/index.ts', 'src/node.ts', 'src/worker.ts'],
  // ESM for `import`, CommonJS for `require` (package.json's exports say which is which).
  format: ['esm', 'cjs'],
  // One copy of the client's code per format, shared by the entry points, so that an error class
  // is the same class whichever entry point made the error (tsup splits CommonJS too when asked).
  splitting: true,
  // Class names as written (error.name is its class's name), which the CommonJS build would rename.
  keepNames: true,
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
