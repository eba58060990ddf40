import { defineConfig } from 'vitest/config';

/**
 * The HTTP tests run once on SQLite (`pnpm test`) and once more on PostgreSQL in CI
 * (PRISMQ_TEST_ENGINE=postgres, see .ci/run and src/testing.ts). The second pass leaves out the
 * tests that start server processes of their own on SQLite files: they would only run again.
 */
const PROCESS_TESTS = [
  'src/crash.test.ts',
  'src/lifecycle.test.ts',
  'src/main.test.ts',
  'src/npm-start.test.ts',
  'src/shutdown.test.ts',
  'src/slow-clients.test.ts',
  'src/two-servers.test.ts',
  'src/cli/tokens.test.ts',
  'src/cli/commands.test.ts',
];

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    exclude: process.env.PRISMQ_TEST_ENGINE === 'postgres' ? PROCESS_TESTS : [],
    testTimeout: 30_000,
    // Whether PostgreSQL can be reached, decided once per run: see @prismq/db's testing helpers.
    globalSetup: ['@prismq/db/testing/postgres-setup'],
  },
});
