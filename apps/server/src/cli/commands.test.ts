/**
 * `pnpm db:migrate` and `pnpm db:backup` as the root scripts run them (tokens.test.ts has `pnpm tokens`):
 * `--help`, usage errors (exit code 2) and failures at run time (exit code 1), and one run of a root
 * script through pnpm itself, as the README says.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, removeTempDirs, repoRoot, tempDir } from '../process-testing.js';
import { runCommand, runProcess } from './command-testing.js';

afterEach(() => removeTempDirs());

/** A stack trace's first frame. */
const STACK = /^\s+at /m;

describe('pnpm db:migrate', () => {
  it('answers --help with its usage, options and examples, exit code 0', async () => {
    const databasePath = join(tempDir(), 'api.db');
    const { code, stdout, stderr } = await runCommand('migrate.ts', ['--help'], { DATABASE_URL: databasePath });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^Usage: pnpm db:migrate \[options\]$/m);
    expect(stdout).toMatch(/Apply the pending migrations to the database in DATABASE_URL/);
    expect(stdout).toMatch(/^ +-h, --help +display help/m);
    expect(stdout).toMatch(/^Examples:\n +pnpm db:migrate$/m);
    expect(existsSync(databasePath)).toBe(false);
  });

  it('applies the migrations, and refuses arguments with exit code 2', async () => {
    const dir = tempDir();
    const migrated = await runCommand('migrate.ts', [], { DATABASE_URL: 'api.db', INIT_CWD: dir });
    expect(migrated, migrated.stderr).toMatchObject({ code: 0, stdout: `Migrations applied to ${join(dir, 'api.db')}\n` });

    const extra = await runCommand('migrate.ts', ['now'], { DATABASE_URL: join(dir, 'api.db') });
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^db:migrate: too many arguments\. Expected 0 arguments but got 1\.\nusage: pnpm db:migrate \[options\]\nSee 'pnpm db:migrate --help'\.\n$/);
  });

  it('fails with exit code 1 and one line when the database cannot be opened', async () => {
    // A SQLite file whose folder cannot be created (a file is in the way), and PostgreSQL on a closed port.
    const blocker = join(tempDir(), 'not-a-folder');
    writeFileSync(blocker, '');
    const closedPort = await freePort();
    const [sqlite, postgres] = await Promise.all([
      runCommand('migrate.ts', [], { DATABASE_URL: join(blocker, 'api.db') }),
      runCommand('migrate.ts', [], { DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort}/prismq` }),
    ]);
    expect(sqlite.code, sqlite.stderr).toBe(1);
    expect(sqlite.stderr).toMatch(/^db:migrate: cannot open the database .*not-a-folder\/api\.db \(DATABASE_URL\): E[A-Z]+: [^\n]+\n$/);
    expect(postgres.code, postgres.stderr).toBe(1);
    expect(postgres.stderr).toMatch(new RegExp(`^db:migrate: The database is unavailable: .*127\\.0\\.0\\.1:${closedPort}/prismq cannot be reached[^\\n]*\\n$`));
    for (const { stdout, stderr } of [sqlite, postgres]) {
      expect(stdout).toBe('');
      expect(stderr).not.toMatch(STACK);
    }
  });

  it('fails with exit code 1 on a bad DATABASE_URL, naming it, and reads none of the server\'s other variables', async () => {
    const bad = await runCommand('migrate.ts', [], { DATABASE_URL: '   ' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('db:migrate: Invalid DATABASE_URL="   ": must not be empty\n');
    // The server would refuse to start on these; the command does not use them.
    const file = join(tempDir(), 'api.db');
    const ignored = await runCommand('migrate.ts', [], { DATABASE_URL: file, PORT: 'http', DATABASE_POOL_SIZE: 'many', LOG_LEVEL: 'chatty' });
    expect(ignored.code, ignored.stderr).toBe(0);
    expect(ignored.stdout).toContain(file);
  });
});

describe('pnpm db:backup', () => {
  it('answers --help with its usage, argument and examples, exit code 0', async () => {
    const { code, stdout, stderr } = await runCommand('backup.ts', ['--help'], { DATABASE_URL: join(tempDir(), 'api.db') });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^Usage: pnpm db:backup \[options\] <file>$/m);
    expect(stdout).toMatch(/^Arguments:\n +file +the backup to write/m);
    expect(stdout).toMatch(/^ +-h, --help +display help/m);
    expect(stdout).toMatch(/^Examples:\n +pnpm db:backup \S+$/m);
    expect(stdout).toMatch(/pg_dump/);
  });

  it('refuses a missing or extra argument with exit code 2 and the usage', async () => {
    const databasePath = join(tempDir(), 'api.db');
    const [none, two] = await Promise.all([
      runCommand('backup.ts', [], { DATABASE_URL: databasePath }),
      runCommand('backup.ts', ['a.db', 'b.db'], { DATABASE_URL: databasePath }),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe("db:backup: missing required argument 'file'\nusage: pnpm db:backup [options] <file>\nSee 'pnpm db:backup --help'.\n");
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/^db:backup: too many arguments\. Expected 1 argument but got 2\.\nusage: pnpm db:backup /);
  });

  it('backs up to a file relative to where it was run; refuses with exit code 1 to overwrite it, or to back up PostgreSQL', async () => {
    const dir = tempDir();
    const env = { DATABASE_URL: 'api.db', INIT_CWD: dir };
    expect((await runCommand('migrate.ts', [], env)).code).toBe(0);

    const backedUp = await runCommand('backup.ts', ['copy.db'], env);
    expect(backedUp.code, backedUp.stderr).toBe(0);
    expect(backedUp.stdout).toBe(`Backed up ${join(dir, 'api.db')} to ${join(dir, 'copy.db')} (0 tasks, integrity ok)\n`);

    const [again, postgres, missing] = await Promise.all([
      runCommand('backup.ts', ['copy.db'], env),
      runCommand('backup.ts', ['copy2.db'], { DATABASE_URL: 'postgres://user:secret@db.example:5432/prismq', INIT_CWD: dir }),
      runCommand('backup.ts', ['copy3.db'], { DATABASE_URL: 'nothing.db', INIT_CWD: dir }),
    ]);
    expect(again).toMatchObject({ code: 1, stderr: `db:backup: ${join(dir, 'copy.db')} exists; choose a new file\n` });
    expect(postgres.code).toBe(1);
    expect(postgres.stderr).toMatch(/^db:backup: DATABASE_URL is a PostgreSQL database \(postgres:\/\/db\.example:5432\/prismq\): back it up with PostgreSQL's own tools, e\.g\. `pg_dump [^\n]+\n$/);
    expect(postgres.stderr).not.toContain('secret');
    expect(missing).toMatchObject({ code: 1, stderr: `db:backup: no database at ${join(dir, 'nothing.db')} (DATABASE_URL)\n` });
  });
});

describe('the root scripts, as the README runs them', () => {
  it('pass --help through pnpm to the command: pnpm tokens --help', async () => {
    // HOME: npx's cache of the pinned pnpm.
    const { code, stdout, stderr } = await runProcess('npx', ['-y', 'pnpm@12.4.2', 'tokens', '--help'], repoRoot, {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^Usage: pnpm tokens \[options\] \[command\]\n/);
    expect(stdout).toMatch(/^ +create \[options\] +Create a token/m);
    expect(stdout).toMatch(/^Examples:$/m);
  }, 60_000);
});
