/**
 * The vitest settings of the packages whose tests run against a real server (@prismq/client,
 * @prismq/cli, examples/typescript-service): each package's vitest.config.ts is this.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Long enough to pack, install and compile a project (the client's package test) or to run processes.
    testTimeout: 120_000,
    typecheck: { enabled: false },
    // Whether PostgreSQL can be reached, decided once per run (the client's replica tests need it).
    globalSetup: ['@prismq/db/testing/postgres-setup'],
  },
});
