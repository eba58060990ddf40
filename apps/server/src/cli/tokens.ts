/**
 * `pnpm tokens create --name billing --scopes producer,worker` · `pnpm tokens list` · `pnpm tokens revoke <name|id>`
 * Manages API tokens in DATABASE_URL (SQLite or PostgreSQL). A new token is printed once; only its hash is stored.
 */
import { parseArgs } from 'node:util';
import { DomainError, openStore, TOKEN_SCOPES, type TokenScope } from '@prismq/db';
import { ConfigError, loadConfig } from '../config.js';

const USAGE = `usage:
  tokens create --name NAME --scopes SCOPE[,SCOPE…]   scopes: ${TOKEN_SCOPES.join(', ')}
  tokens list
  tokens revoke NAME|ID`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, scopes: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [command, ...rest] = positionals;
  const store = await openStore(loadConfig().databasePath, { poolSize: 1 });
  try {
    switch (command) {
      case 'create': {
        const name = values.name?.trim();
        const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        if (!name) throw new UsageError('--name is required');
        if (scopes.length === 0) throw new UsageError('--scopes is required');
        const unknown = scopes.filter((s) => !(TOKEN_SCOPES as readonly string[]).includes(s));
        if (unknown.length) throw new UsageError(`unknown scope ${unknown.join(', ')}`);
        const { token, record } = await store.createToken(name, scopes as TokenScope[]);
        if (values.json) process.stdout.write(`${JSON.stringify({ ...record, token })}\n`);
        else {
          process.stdout.write(`Created token '${record.name}' (id ${record.id}, scopes: ${record.scopes.join(', ')}).\n`);
          process.stdout.write(`It is shown only this once; send it as "Authorization: Bearer <token>":\n\n${token}\n`);
        }
        return;
      }
      case 'list': {
        const tokens = await store.listTokens();
        if (values.json) process.stdout.write(`${JSON.stringify(tokens)}\n`);
        else if (tokens.length === 0) process.stdout.write('No tokens.\n');
        else
          for (const t of tokens) {
            const state = t.revoked_at ? `revoked ${t.revoked_at}` : `last used ${t.last_used_at ?? 'never'}`;
            process.stdout.write(`${t.id}\t${t.name}\t${t.scopes.join(',')}\tcreated ${t.created_at}\t${state}\n`);
          }
        return;
      }
      case 'revoke': {
        if (rest.length !== 1) throw new UsageError('revoke takes one token name or id');
        const revoked = await store.revokeToken(rest[0]!);
        process.stdout.write(`Revoked token '${revoked.name}' (id ${revoked.id}).\n`);
        return;
      }
      default:
        throw new UsageError(command ? `unknown command '${command}'` : 'a command is required');
    }
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const known = error instanceof UsageError || error instanceof ConfigError || error instanceof DomainError;
  process.stderr.write(`tokens: ${(error as Error).message}\n${error instanceof UsageError ? USAGE + '\n' : ''}`);
  if (!known && !(error instanceof TypeError)) process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(2);
});
