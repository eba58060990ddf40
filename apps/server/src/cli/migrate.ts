/** `pnpm db:migrate`: applies pending migrations to DATABASE_URL (SQLite or PostgreSQL) and exits. `--help` tells the same. */
import { databaseLabel } from '@prismq/db';
import { loadDatabaseConfig } from '../config.js';
import { createProgram, examples, openDatabase, run } from './program.js';

const program = createProgram(
  'db:migrate',
  'Apply the pending migrations to the database in DATABASE_URL (SQLite or PostgreSQL), without starting the server (which applies them at start-up too). A SQLite file and its folders are created if missing.',
)
  .addHelpText('after', examples('pnpm db:migrate', 'DATABASE_URL=data/api.db pnpm db:migrate', 'DATABASE_URL=postgres://user:password@host:5432/prismq pnpm db:migrate'))
  .action(async () => {
    const { databasePath } = loadDatabaseConfig();
    const store = await openDatabase(databasePath);
    await store.close();
    process.stdout.write(`Migrations applied to ${databaseLabel(databasePath)}\n`);
  });

await run(program, 'db:migrate');
