import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Whether PostgreSQL can be reached, decided once per run: see src/testing/postgres.ts.
    globalSetup: ['src/testing/postgres-setup.ts'],
  },
});
