/**
 * What `pnpm start` runs, read from this package's `start` script: node's arguments (its V8
 * flags and the built bundle) and the folder to run them in. For the process tests and the
 * benchmark, which must start the server exactly as users do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const serverDir = fileURLToPath(new URL('..', import.meta.url));

/** The arguments after `node` in the `start` script, flags included. */
export function startArguments(): string[] {
  const { scripts } = JSON.parse(readFileSync(`${serverDir}/package.json`, 'utf8')) as { scripts: { start: string } };
  const [command, ...args] = scripts.start.split(/\s+/);
  if (command !== 'node') throw new Error(`expected the server's start script to run node, not: ${scripts.start}`);
  return args;
}

/** The entry point run from its TypeScript source, for tests that need no build. */
export const FROM_SOURCE = ['--import', 'tsx', 'src/main.ts'];

/** What `pnpm start` runs after `node`, once the bundle is built (turbo's test task builds it first). */
export function startScriptArguments(): string[] {
  const args = startArguments();
  const bundle = args.at(-1)!;
  if (!existsSync(join(serverDir, bundle))) throw new Error(`${bundle} is missing: run pnpm build first (turbo's test task does)`);
  return args;
}
