/**
 * What the server's commands (`pnpm tokens`, `pnpm db:migrate`, `pnpm db:backup`) share, on top of commander:
 * `--help` prints the usage to stdout and exits 0; a usage error prints `<command>: <message>` and the usage of the
 * (sub)command that was run to stderr and exits 2; a failure at run time (the database cannot be opened, a token is
 * not found, …) prints `<command>: <message>` to stderr and exits 1, with a stack trace only for a bug.
 */
import { DomainError, databaseLabel, openStore, type TaskStore } from '@prismq/db';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';

/** Exit code of a command run with bad arguments or options. */
export const USAGE_ERROR = 2;
/** Exit code of a command that failed at run time. */
export const FAILURE = 1;

/** An expected failure at run time: printed as one line, without a stack trace, exit code 1. */
export class CommandFailure extends Error {}

/** A command as the user types it (`pnpm tokens`): commander names it so in every usage line. */
export function createProgram(name: string, description: string): Command {
  return new Command(`pnpm ${name}`)
    .description(description)
    .exitOverride()
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });
}

/** The examples section of a command's `--help`. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join('\n')}\n`;
}

/** The usage error of `command`: printed as its errors are (see the top), exit code 2. */
export function usageError(command: Command, message: string): never {
  command.error(message, { exitCode: USAGE_ERROR, code: 'prismq.usage' });
}

/** Opens DATABASE_URL's store; a file that cannot be opened or created is a failure of one line. */
export async function openDatabase(databasePath: string): Promise<TaskStore> {
  try {
    return await openStore(databasePath, { poolSize: 1 });
  } catch (error) {
    if (error instanceof DomainError || !hasCode(error)) throw error;
    throw new CommandFailure(`cannot open the database ${databaseLabel(databasePath)} (DATABASE_URL): ${error.message}`);
  }
}

/** Node's system errors and SQLite's carry a code: expected failures, whose message says enough. */
function hasCode(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

function usageLines(command: Command): string[] {
  const help = command.createHelp();
  const commands = command.commands.length ? command.commands : [command];
  return commands.map((c) => help.commandUsage(c));
}

/** Every command of the tree prints its usage errors as `label: message` and its own usage. */
function configureErrors(command: Command, label: string): void {
  const path: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) path.unshift(c.name());
  command.configureOutput({
    outputError: (text, write) => {
      const message = text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
      write(`${label}: ${message}\nusage: ${usageLines(command).join('\n       ')}\nSee '${path.join(' ')} --help'.\n`);
    },
  });
  for (const sub of command.commands) configureErrors(sub, label);
}

/**
 * Parses `argv` and runs the matching action. Returns when the action succeeded; otherwise prints
 * the error as the top of this file says and exits with its code (0 after `--help`).
 */
export async function run(program: Command, label: string, argv: string[] = process.argv.slice(2)): Promise<void> {
  configureErrors(program, label);
  try {
    if (argv.length === 0 && program.commands.length > 0) {
      usageError(program, `a command is required: ${program.commands.map((c) => c.name()).join(', ')}`);
    }
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    process.exit(report(error, label));
  }
}

/** Prints what commander has not printed already; the exit code. */
function report(error: unknown, label: string): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_ERROR;
  const expected = error instanceof CommandFailure || error instanceof ConfigError || error instanceof DomainError || hasCode(error);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${label}: ${message}\n`);
  if (!expected) process.stderr.write(`${error instanceof Error ? error.stack : ''}\n`);
  return FAILURE;
}
