/**
 * `pnpm tokens create --name billing --scopes producer,worker` · `pnpm tokens list [--json]` · `pnpm tokens revoke <name|id>`
 * Manages API tokens in DATABASE_URL (SQLite or PostgreSQL). A new token is printed once; only its hash is stored.
 * `pnpm tokens --help` and `pnpm tokens <command> --help` tell the same.
 */
import { TOKEN_SCOPES, type TaskStore, type TokenScope } from '@prismq/db';
import { InvalidArgumentError, Option } from 'commander';
import { loadDatabaseConfig } from '../config.js';
import { createProgram, examples, openDatabase, run, usageError } from './program.js';

/** Runs `action` on DATABASE_URL's store, closing it afterwards. */
async function withStore<T>(action: (store: TaskStore) => Promise<T>): Promise<T> {
  const store = await openDatabase(loadDatabaseConfig().databasePath);
  try {
    return await action(store);
  } finally {
    await store.close();
  }
}

function parseName(value: string): string {
  const name = value.trim();
  if (!name) throw new InvalidArgumentError('a token needs a name');
  return name;
}

function parseScopes(value: string): TokenScope[] {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (scopes.length === 0) throw new InvalidArgumentError(`name one scope or more: ${TOKEN_SCOPES.join(', ')}`);
  const unknown = scopes.filter((s) => !(TOKEN_SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new InvalidArgumentError(`unknown scope ${unknown.join(', ')} (scopes: ${TOKEN_SCOPES.join(', ')})`);
  return scopes as TokenScope[];
}

const program = createProgram(
  'tokens',
  'Create, list and revoke the API tokens in DATABASE_URL (SQLite or PostgreSQL). A token is printed once, when it is created; only its hash is stored.',
).addHelpText(
  'after',
  examples(
    'pnpm tokens create --name billing --scopes producer',
    'pnpm tokens list',
    'pnpm tokens revoke billing',
    'DATABASE_URL=postgres://user:password@host:5432/prismq pnpm tokens list --json',
  ),
);

program
  .command('create')
  .description(
    `Create a token and print it, once; send it as "Authorization: Bearer <token>". Scopes: read reads; producer also creates, updates, cancels and retries tasks; worker also claims and finishes them; admin does everything.`,
  )
  .usage('--name <name> --scopes <scope,...> [--json]')
  .addOption(new Option('--name <name>', 'a name that no other token has (revoke takes it too)').argParser(parseName).makeOptionMandatory())
  .addOption(
    new Option('--scopes <scope,...>', `comma-separated scopes: ${TOKEN_SCOPES.join(', ')}`).argParser(parseScopes).makeOptionMandatory(),
  )
  .option('--json', 'print the token and its record as one JSON object')
  .addHelpText('after', examples('pnpm tokens create --name billing --scopes producer', 'pnpm tokens create --name video-workers --scopes worker,read --json'))
  .action(async (options: { name: string; scopes: TokenScope[]; json?: boolean }) => {
    const { token, record } = await withStore((store) => store.createToken(options.name, options.scopes));
    if (options.json) process.stdout.write(`${JSON.stringify({ ...record, token })}\n`);
    else {
      process.stdout.write(`Created token '${record.name}' (id ${record.id}, scopes: ${record.scopes.join(', ')}).\n`);
      process.stdout.write(`It is shown only this once; send it as "Authorization: Bearer <token>":\n\n${token}\n`);
    }
  });

program
  .command('list')
  .description('List the tokens (never their secrets): id, name, scopes, when created, and when last used or revoked.')
  .usage('[--json]')
  .option('--json', 'print the tokens as a JSON array')
  .addHelpText('after', examples('pnpm tokens list', 'pnpm tokens list --json'))
  .action(async (options: { json?: boolean }) => {
    const tokens = await withStore((store) => store.listTokens());
    if (options.json) process.stdout.write(`${JSON.stringify(tokens)}\n`);
    else if (tokens.length === 0) process.stdout.write('No tokens.\n');
    else
      for (const t of tokens) {
        const state = t.revoked_at ? `revoked ${t.revoked_at}` : `last used ${t.last_used_at ?? 'never'}`;
        process.stdout.write(`${t.id}\t${t.name}\t${t.scopes.join(',')}\tcreated ${t.created_at}\t${state}\n`);
      }
  });

program
  .command('revoke')
  .description('Revoke a token at once: requests that send it answer 401 from then on. Revoking never turns authentication off.')
  .usage('<name|id>')
  .argument('<name|id>', 'the name or id of the token (as tokens list shows them)')
  .addHelpText('after', examples('pnpm tokens revoke billing', 'pnpm tokens revoke 3'))
  .action(async (nameOrId: string, _options, command) => {
    if (!nameOrId.trim()) usageError(command, 'name the token to revoke, or give its id');
    const revoked = await withStore((store) => store.revokeToken(nameOrId));
    process.stdout.write(`Revoked token '${revoked.name}' (id ${revoked.id}).\n`);
  });

await run(program, 'tokens');
