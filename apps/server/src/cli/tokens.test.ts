import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { api, killAllServerProcesses, removeTempDirs, startServerProcess, tempDir } from '../process-testing.js';
import { runCommand } from './command-testing.js';

afterEach(async () => {
  await killAllServerProcesses();
  removeTempDirs();
});

/** Runs `pnpm tokens …` as the root script does; resolves with its output and exit code. */
async function tokens(databasePath: string, ...args: string[]) {
  return runCommand('tokens.ts', args, { DATABASE_URL: databasePath });
}

/** A stack trace's first frame. */
const STACK = /^\s+at /m;

describe('pnpm tokens', () => {
  it('creates a token that a running server accepts at once, lists it without its secret, and revokes it', async () => {
    const databasePath = join(tempDir(), 'api.db');
    const server = await startServerProcess({ databasePath });
    expect((await api(server.url, 'GET', '/api/tasks')).status).toBe(200);

    const created = await tokens(databasePath, 'create', '--name', 'billing', '--scopes', 'producer,read');
    expect(created.code).toBe(0);
    const token = /^(pq_\d+_[\w-]{43})$/m.exec(created.stdout)?.[1];
    expect(token, created.stdout).toBeDefined();

    // A token now exists: the loopback server requires one.
    expect((await api(server.url, 'GET', '/api/tasks')).status).toBe(401);
    const withToken = await fetch(`${server.url}/api/tasks`, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);

    const listed = await tokens(databasePath, 'list');
    expect(listed.stdout).toMatch(/^1\tbilling\tproducer,read\tcreated /m);
    expect(listed.stdout).not.toContain(token!.replace(/^pq_\d+_/, ''));

    expect((await tokens(databasePath, 'revoke', 'billing')).stdout).toMatch(/Revoked token 'billing'/);
    const revoked = await fetch(`${server.url}/api/task-types`, { headers: { authorization: `Bearer ${token}` } });
    expect(revoked.status).toBe(401);
    // No live token is left, and tokens stay required: revoking never opens the API.
    expect((await api(server.url, 'GET', '/api/tasks')).status).toBe(401);
    expect((await tokens(databasePath, 'list')).stdout).toMatch(/revoked /);
  }, 60_000);

  it('refuses bad input with exit code 2, a message naming the problem and the usage', async () => {
    const databasePath = join(tempDir(), 'api.db');
    const cases: [string[], RegExp, RegExp][] = [
      // arguments, the message, the usage lines that follow
      [['create', '--name', 'x'], /required option '--scopes <scope,\.\.\.>' not specified/, /^usage: pnpm tokens create --name <name> --scopes/m],
      [['create', '--scopes', 'read'], /required option '--name <name>' not specified/, /^usage: pnpm tokens create /m],
      [['create', '--name', 'x', '--scopes', 'read,root'], /argument 'read,root' is invalid\. unknown scope root \(scopes: /, /^usage: pnpm tokens create /m],
      [['create', '--name', ' ', '--scopes', 'read'], /'--name <name>' argument ' ' is invalid\. a token needs a name/, /^usage: pnpm tokens create /m],
      [['create', '--name', 'x', '--scopes', 'read', '--bogus'], /unknown option '--bogus'/, /^usage: pnpm tokens create /m],
      [['revoke'], /missing required argument 'name\|id'/, /^usage: pnpm tokens revoke <name\|id>$/m],
      [['revoke', 'a', 'b'], /too many arguments for 'revoke'/, /^usage: pnpm tokens revoke <name\|id>$/m],
      [['frobnicate'], /unknown command 'frobnicate'/, /^usage: pnpm tokens create .*\n +pnpm tokens list \[--json\]\n +pnpm tokens revoke /m],
      [['lst'], /unknown command 'lst' \(Did you mean list\?\)/, /^usage: pnpm tokens create /m],
      [[], /a command is required: create, list, revoke/, /^usage: pnpm tokens create /m],
    ];
    const results = await Promise.all(cases.map(([args]) => tokens(databasePath, ...args)));
    cases.forEach(([args, message, usage], i) => {
      const { code, stdout, stderr } = results[i]!;
      expect(code, args.join(' ')).toBe(2);
      expect(stdout, args.join(' ')).toBe('');
      expect(stderr, args.join(' ')).toMatch(/^tokens: .+\nusage:/);
      expect(stderr.split('\n')[0], args.join(' ')).toMatch(message);
      expect(stderr, args.join(' ')).toMatch(usage);
      expect(stderr, args.join(' ')).toMatch(/^See 'pnpm tokens( \w+)? --help'\.$/m);
    });
    // Refused before the database is touched.
    expect(existsSync(databasePath)).toBe(false);
  }, 60_000);

  it('fails at run time with exit code 1 and one line, no usage and no stack trace', async () => {
    const databasePath = join(tempDir(), 'api.db');
    expect((await tokens(databasePath, 'create', '--name', 'twice', '--scopes', 'read')).code).toBe(0);
    const again = await tokens(databasePath, 'create', '--name', 'twice', '--scopes', 'read');
    const nobody = await tokens(databasePath, 'revoke', 'nobody');
    // A file where the database's folder should be: it cannot be created.
    const unopenable = await tokens(join(databasePath, 'api.db'), 'list');
    for (const [result, message] of [
      [again, /^tokens: A token named 'twice' already exists\n$/],
      [nobody, /^tokens: Token 'nobody' not found\n$/],
      [unopenable, /^tokens: cannot open the database .*api\.db\/api\.db \(DATABASE_URL\): E[A-Z]+: .*\n$/],
    ] as const) {
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(STACK);
    }
  }, 60_000);

  it('answers --help for itself and each command with the usage, the options and examples, exit code 0', async () => {
    const databasePath = join(tempDir(), 'api.db');
    const cases: [string[], RegExp[]][] = [
      [['--help'], [/^Usage: pnpm tokens \[options\] \[command\]$/m, /^ +create \[options\] +Create a token/m, /^ +list \[options\] +List the tokens/m, /^ +revoke <name\|id> +Revoke a token/m, /DATABASE_URL/]],
      [['-h'], [/^Usage: pnpm tokens \[options\] \[command\]$/m]],
      [['help', 'create'], [/^Usage: pnpm tokens create --name <name> --scopes <scope,\.\.\.> \[--json\]$/m]],
      [['create', '--help'], [/^Usage: pnpm tokens create --name <name> --scopes <scope,\.\.\.> \[--json\]$/m, /^ +--name <name> +a name/m, /^ +--scopes <scope,\.\.\.> +comma-separated scopes: .*producer/m, /^ +--json +print/m, /^ +pnpm tokens create --name billing --scopes producer$/m]],
      [['list', '--help'], [/^Usage: pnpm tokens list \[--json\]$/m, /^ +--json +print the tokens as a JSON array$/m, /^ +pnpm tokens list --json$/m]],
      [['revoke', '--help'], [/^Usage: pnpm tokens revoke <name\|id>$/m, /^ +name\|id +the name or id/m, /^ +pnpm tokens revoke billing$/m]],
      // --help wins over what is missing or wrong.
      [['create', '--name', 'x', '--help'], [/^Usage: pnpm tokens create /m]],
    ];
    const results = await Promise.all(cases.map(([args]) => tokens(databasePath, ...args)));
    cases.forEach(([args, patterns], i) => {
      const { code, stdout, stderr } = results[i]!;
      expect(code, `${args.join(' ')}: ${stderr}`).toBe(0);
      expect(stderr, args.join(' ')).toBe('');
      for (const pattern of patterns) expect(stdout, args.join(' ')).toMatch(pattern);
      if (args.at(-1) === '--help' || args.at(-1) === '-h') expect(stdout, args.join(' ')).toMatch(/^Examples:$/m);
    });
    expect(existsSync(databasePath)).toBe(false);
  }, 60_000);

  it('takes a relative DATABASE_URL from the folder the command was run in (INIT_CWD, as pnpm sets it)', async () => {
    const dir = tempDir();
    const created = await runCommand('tokens.ts', ['create', '--name', 'json', '--scopes', 'worker,read', '--json'], {
      DATABASE_URL: 'data/api.db',
      INIT_CWD: dir,
    });
    expect(created.code, created.stderr).toBe(0);
    const record = JSON.parse(created.stdout) as { name: string; scopes: string[]; token: string };
    expect(record).toMatchObject({ name: 'json', scopes: ['worker', 'read'] });
    expect(record.token).toMatch(/^pq_\d+_/);
    expect(existsSync(join(dir, 'data', 'api.db'))).toBe(true);
    const listed = await tokens(join(dir, 'data', 'api.db'), 'list', '--json');
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: 'json', revoked_at: null }]);
  }, 60_000);
});

describe('a server reachable from other machines', () => {
  it('refuses to start without a token unless AUTH=off', async () => {
    const databasePath = join(tempDir(), 'api.db');
    await expect(startServerProcess({ databasePath, env: { HOST: '0.0.0.0' } })).rejects.toThrow(/no live API token exists.*AUTH=off/s);
  }, 30_000);
});
