import { defineConfig } from 'drizzle-kit';

/** The PostgreSQL engine's migrations (`pnpm db:generate:postgres`); SQLite's are in drizzle.config.ts. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/postgres/schema.ts',
  out: './drizzle-postgres',
});
