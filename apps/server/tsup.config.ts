import { defineConfig } from 'tsup';

/**
 * `pnpm start` runs the server as one JavaScript bundle: no TypeScript loader in production, so
 * it starts faster and keeps less memory. The workspace's API and database packages (TypeScript
 * source) are bundled in; the server's own dependencies stay in node_modules, so it lists those
 * of @prismq/api too (zod, @trpc/server, trpc-to-openapi).
 */
export default defineConfig({
  entry: { main: 'src/main.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  noExternal: ['@prismq/api', '@prismq/db'],
  // CommonJS code bundled into an ES module calls require().
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  clean: true,
  sourcemap: true,
});
