/**
 * `pnpm db:backup <file>`: a consistent copy of the live SQLite database (SQLite's online backup
 * API), taken while the server keeps serving. Restore: stop the server, copy the backup over
 * DATABASE_URL (removing any `-wal` and `-shm` files beside it), start the server. A PostgreSQL
 * database is backed up with PostgreSQL's own tools: the command says so.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { databaseLabel, isPostgresUrl } from '@prismq/db';
import Database from 'better-sqlite3';
import { ConfigError, loadConfig } from '../config.js';

async function main(target: string | undefined): Promise<void> {
  if (!target) throw new Error('usage: db:backup <file>');
  const { databasePath, workingDirectory } = loadConfig();
  if (isPostgresUrl(databasePath)) {
    throw new Error(
      `DATABASE_URL is a PostgreSQL database (${databaseLabel(databasePath)}): back it up with PostgreSQL's own tools, ` +
        'e.g. `pg_dump --format=custom --file=prismq.dump "$DATABASE_URL"` (restore with pg_restore), or the server\'s continuous archiving',
    );
  }
  if (!existsSync(databasePath)) throw new Error(`no database at ${databasePath} (DATABASE_URL)`);
  const destination = resolve(workingDirectory, target);
  if (existsSync(destination)) throw new Error(`${destination} exists; choose a new file`);
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
    if (check !== 'ok') throw new Error(`the backup failed its integrity check: ${String(check)}`);
    const tasks = copy.prepare('select count(*) from task_list').pluck().get();
    process.stdout.write(`Backed up ${databasePath} to ${destination} (${tasks} tasks, integrity ok)\n`);
  } finally {
    copy.close();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`db:backup: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exit(1);
});
