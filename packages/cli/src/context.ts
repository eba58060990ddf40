/** What every command's action needs: a client for the server the options and environment name. */
import type { Command } from 'commander';
import { EXIT_USAGE } from './errors.js';
import { openSession, UsageError, type Environment, type GlobalOptions, type Session } from './config.js';

export interface Context {
  /** The config and client for the command being run (its options and the program's). */
  connect(command: Command): Session;
}

export function createContext(environment: Environment): Context {
  return {
    connect(command) {
      try {
        return openSession(command.optsWithGlobals<GlobalOptions>(), environment);
      } catch (error) {
        if (error instanceof UsageError) usageError(command, error.message);
        throw error;
      }
    },
  };
}

/** Stops with a usage error (exit 2): the message, then a hint to the command's help. */
export function usageError(command: Command, message: string): never {
  command.error(message, { exitCode: EXIT_USAGE, code: 'prismq.usage' });
}
