#!/usr/bin/env node
/**
 * `prismq`: the command line of the PrismQ Task API. The program's wiring: global options, the
 * commands, and how errors end the process (1: the API or the connection; 2: usage).
 */
import { Command, CommanderError } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { DEFAULT_URL, readEnvironment, resolveConfig, type Environment, type GlobalOptions } from './config.js';
import { createContext } from './context.js';
import { describeError, EXIT_ERROR, EXIT_USAGE } from './errors.js';
import { eventsCommand } from './commands/events.js';
import { statsCommand } from './commands/stats.js';
import { tasksCommand } from './commands/tasks.js';
import { typesCommand } from './commands/types.js';

export function buildProgram(environment: Environment): Command {
  const context = createContext(environment);
  const program = new Command('prismq')
    .description('The command line of the PrismQ Task API: task types, tasks, live events and stats.')
    .version(packageJson.version, '-V, --version')
    .option('--url <url>', `the server (default: $PRISMQ_URL, else ${DEFAULT_URL})`)
    .option('--token <token>', 'an API token (default: $PRISMQ_TOKEN)')
    .option('--json', 'print JSON for programs rather than tables (events: one JSON object per line)')
    .addCommand(typesCommand(context))
    .addCommand(tasksCommand(context))
    .addCommand(eventsCommand(context))
    .addCommand(statsCommand(context))
    .addHelpText(
      'after',
      `
Examples:
  prismq types list
  prismq tasks list --status failed --type send_email
  prismq tasks create send_email --params '{"to": "ada@example.com"}'
  prismq tasks retry --status failed --finished-after 2025-11-06T22:00:00Z
  prismq events --kind completed,failed
  prismq stats --json

Run 'prismq <command> --help' for a command's options.`,
    );
  configure(program);
  return program;
}

/** The same behaviour on every command: errors thrown (main decides the exit code), one style of message, help hints. */
function configure(command: Command): void {
  command
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ outputError: (text, write) => write(`prismq: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError(`(run '${commandPath(command)} --help' for usage)`);
  for (const sub of command.commands) configure(sub);
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current; current = current.parent) names.unshift(current.name());
  return names.join(' ');
}

async function main(argv: string[]): Promise<number> {
  // `prismq … | head`: a reader that goes away is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const environment = readEnvironment(process.env);
  const program = buildProgram(environment);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    // Help and version end with 0; commander has printed its usage errors.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    let url = DEFAULT_URL;
    try {
      url = resolveConfig(program.opts<GlobalOptions>(), environment).url;
    } catch {
      // An unusable URL was reported as a usage error before any call.
    }
    process.stderr.write(`prismq: ${describeError(error, url).join('\n')}\n`);
    return EXIT_ERROR;
  }
}

// Ends the process once the command is done, even with a keep-alive connection still open.
process.exit(await main(process.argv.slice(2)));
