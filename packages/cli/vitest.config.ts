import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
    typecheck: { enabled: false },
    // Whether PostgreSQL can be reached, decided once per run (the replica tests need it).
    globalSetup: ['@prismq/db/testing/postgres-setup'],
  },
});
