/**
 * The program as a whole, run as a child process: help on every command, usage errors (exit 2),
 * a server that cannot be reached, and tokens from --token and PRISMQ_TOKEN.
 */
import { createServer } from 'node:net';
import { startTestServer } from '@prismq/server/testing';
import { describe, expect, it } from 'vitest';
import { at, run, useCliServer } from './cli-testing.js';

const cli = useCliServer();

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('prismq', () => {
  it('prints the help of every command with --help, exit 0', async () => {
    const commands = [
      '',
      'types',
      'types list',
      'types show',
      'types codegen',
      'tasks',
      'tasks list',
      'tasks show',
      'tasks create',
      'tasks retry',
      'tasks cancel',
      'tasks delete',
      'events',
      'stats',
    ];
    const results = await Promise.all(commands.map((command) => run([...command.split(' ').filter(Boolean), '--help'])));
    results.forEach((result, index) => {
      const command = `prismq ${commands[index]}`.trim();
      expect(result, command).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout, command).toContain(`Usage: ${command} `);
      // Every command shows the options that every command takes.
      expect(result.stdout, command).toMatch(/--url <url>[\s\S]*--token <token>[\s\S]*--json/);
    });
    expect(results[6]!.stdout).toContain('--status <status>');
    expect(results[8]!.stdout).toContain('--params-file <file>');
  });

  it('exits 2 on bad usage, with the error and a hint to --help, before any call', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['tasks', 'list', '--colour'], /unknown option '--colour'/],
      [['tasks', 'list', '--limit', '0'], /--limit <n>.*must be a whole number from 1 to 1000/],
      [['tasks', 'list', '--status', 'done'], /'done' is not one of: pending, running, completed, failed, cancelled/],
      [['tasks', 'list', '--created-after', 'yesterday'], /must be an ISO 8601 time/],
      [['tasks', 'show'], /missing required argument 'id'/],
      [['tasks', 'show', '12x'], /must be a whole number/],
      [['tasks', 'create', 'send_email', '--params', '{"to":'], /--params is not valid JSON/],
      [['tasks', 'create', 'send_email', '--params', '[1]'], /--params must be a JSON object/],
      [['tasks', 'cancel'], /give the ids of the tasks to cancel, or filter options/],
      [['--url', 'localhost:8000', 'stats'], /must start with http:\/\/ or https:\/\//],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args, at(cli.server))));
    results.forEach((result, index) => {
      const [args, message] = cases[index]!;
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr, args.join(' ')).toMatch(/^prismq: /);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr, args.join(' ')).toMatch(/\(run 'prismq[a-z ]*--help' for usage\)/);
    });
    // The hint names the command that was misused.
    expect(results[2]!.stderr).toContain("(run 'prismq tasks list --help' for usage)");
    // No call was made: nothing was created or cancelled.
    expect((await cli.server.store.listTaskTypes({ include_inactive: true })).length).toBe(0);
  });

  it('says so, with the URL, when the server cannot be reached (exit 1); --url wins over PRISMQ_URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const byEnv = await run(['tasks', 'list'], { env: { PRISMQ_URL: url } });
    expect(byEnv.code).toBe(1);
    expect(byEnv.stderr).toBe(`prismq: cannot reach the PrismQ server at ${url} (connect ECONNREFUSED ${url.slice(7)}); check --url or PRISMQ_URL\n`);
    const byOption = await run(['--url', url, 'stats']);
    expect(byOption.code).toBe(1);
    expect(byOption.stderr).toContain(`cannot reach the PrismQ server at ${url}`);

    const overridden = await run(['types', 'list', '--url', cli.server.url], { env: { PRISMQ_URL: url } });
    expect(overridden).toMatchObject({ code: 0, stderr: '' });
  });

  it('sends the token of --token or PRISMQ_TOKEN; a missing one is a 401, a weak one a 403', async () => {
    const secured = await startTestServer({ auth: 'on' });
    try {
      const admin = (await secured.store.createToken('cli-admin', ['admin'])).token;
      const reader = (await secured.store.createToken('cli-reader', ['read'])).token;
      await secured.store.createTaskType({ name: 'guarded' });

      const byOption = await run(['types', 'list', '--json', '--token', admin], at(secured));
      expect(byOption.code).toBe(0);
      expect(JSON.parse(byOption.stdout).map((type: { name: string }) => type.name)).toEqual(['guarded']);

      const byEnv = await run(['types', 'list', '--json'], at(secured, { PRISMQ_TOKEN: reader }));
      expect(byEnv.code).toBe(0);
      expect(JSON.parse(byEnv.stdout)).toHaveLength(1);

      const none = await run(['types', 'list'], at(secured));
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/^prismq: HTTP 401: .*token.*\(give a token with --token or PRISMQ_TOKEN\)\n$/);

      // --token wins over PRISMQ_TOKEN.
      const weak = await run(['tasks', 'delete', '1', '--token', reader], at(secured, { PRISMQ_TOKEN: admin }));
      expect(weak.code).toBe(1);
      expect(weak.stderr).toMatch(/^prismq: task 1: HTTP 403: Token 'cli-reader' \(scopes: read\) may not do this/);
    } finally {
      await secured.close();
    }
  });
});
