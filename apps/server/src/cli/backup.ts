/**
 * `pnpm db:backup <file>`: a consistent copy of the live SQLite database (SQLite's online backup
 * API), taken while the server keeps serving. Restore: stop the server, copy the backup over
 * DATABASE_URL (removing any `-wal` and `-shm` files beside it), start the server. A PostgreSQL
 * database is backed up with PostgreSQL's own tools: the command says so. `--help` tells the same.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { databaseLabel, isPostgresUrl } from '@prismq/db';
import Database from 'better-sqlite3';
import { loadDatabaseConfig } from '../config.js';
import { CommandFailure, createProgram, examples, run } from './program.js';

async function backup(target: string): Promise<void> {
  const { databasePath, workingDirectory } = loadDatabaseConfig();
  if (isPostgresUrl(databasePath)) {
    throw new CommandFailure(
      `DATABASE_URL is a PostgreSQL database (${databaseLabel(databasePath)}): back it up with PostgreSQL's own tools, ` +
        'e.g. `pg_dump --format=custom --file=prismq.dump "$DATABASE_URL"` (restore with pg_restore), or the server\'s continuous archiving',
    );
  }
  if (!existsSync(databasePath)) throw new CommandFailure(`no database at ${databasePath} (DATABASE_URL)`);
  const destination = resolve(workingDirectory, target);
  if (existsSync(destination)) throw new CommandFailure(`${destination} exists; choose a new file`);
  const db = new Database(databasePath, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    await db.backup(destination);
  } finally {
    db.close();
  }
  // A self-contained file: no -wal or -shm beside it.
  const copy = new Database(destination);
  try {
    copy.pragma('journal_mode = DELETE');
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new CommandFailure(`the backup failed its integrity check: ${String(check)}`);
    const tasks = copy.prepare('select count(*) from task_list').pluck().get();
    process.stdout.write(`Backed up ${databasePath} to ${destination} (${tasks} tasks, integrity ok)\n`);
  } finally {
    copy.close();
  }
}

const program = createProgram(
  'db:backup',
  'Copy the SQLite database in DATABASE_URL to a new file, consistently, while the server keeps serving (SQLite\'s online backup API). ' +
    'To restore, stop the server, copy the backup over DATABASE_URL (removing any -wal and -shm files beside it) and start the server. ' +
    'A PostgreSQL database is backed up with pg_dump instead.',
)
  .argument('<file>', 'the backup to write, a new file (relative to the folder the command was run in)')
  .addHelpText('after', examples('pnpm db:backup backups/api-2025-01-31.db', 'DATABASE_URL=data/api.db pnpm db:backup /var/backups/prismq.db'))
  .action(backup);

await run(program, 'db:backup');
