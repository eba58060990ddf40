/** For the commands' tests: runs a command of src/cli as the root scripts do, in a child process. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { serverDir } from '../process-testing.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node --import tsx src/cli/<file> …args` in apps/server, as `pnpm tokens`, `pnpm db:migrate`
 * and `pnpm db:backup` do from the repository root. `env` is all of its environment besides PATH:
 * pnpm sets INIT_CWD to where the command was run, which relative paths are taken from.
 */
export async function runCommand(file: string, args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return runProcess(process.execPath, ['--import', 'tsx', `src/cli/${file}`, ...args], serverDir, { PATH: process.env.PATH, ...env });
}

/** Runs a program to its end; resolves with its exit code and output, whatever the code. */
export async function runProcess(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { cwd, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number | string; stdout?: string; stderr?: string };
    if (typeof code !== 'number') throw error; // could not be started, or killed at the timeout
    return { code, stdout: stdout ?? '', stderr: stderr ?? '' };
  }
}
