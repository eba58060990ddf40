/** `prismq tasks list|show|create|retry|cancel|delete`. */
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { errorInfo, type PrismqClient, type RouterInputs, type Task } from '@prismq/client';
import type { Context } from '../context.js';
import { usageError } from '../context.js';
import { describeError, EXIT_ERROR } from '../errors.js';
import { formatJson, formatTime, keyValues, NONE, note, plural, print, printJson, table, truncate } from '../output.js';
import { addFilterOptions, isoTime, seconds, SORTS, taskFilter, taskId, wholeNumber, type FilterOptions } from '../options.js';
import { findType } from './types.js';

/** Every task type's name by id, inactive ones included. */
export async function typeNames(client: PrismqClient): Promise<Map<number, string>> {
  const types = await client.taskTypes.list.query({ include_inactive: true });
  return new Map(types.map((type) => [type.id, type.name]));
}

const attemptsOf = (task: Pick<Task, 'attempts' | 'max_attempts'>) => `${task.attempts}/${task.max_attempts}`;

interface ListOptions extends FilterOptions {
  sort?: (typeof SORTS)[number];
  limit?: number;
  cursor?: string;
}

function listCommand(context: Context): Command {
  const list = new Command('list')
    .description('list tasks, newest first, a page at a time: the filters all hold together')
    .addHelpText(
      'after',
      `
Examples:
  prismq tasks list --status failed,cancelled --type send_email --limit 20
  prismq tasks list --metadata customer=acme --sort oldest
  prismq tasks list -q "billing@northwind.example" --json`,
    );
  addFilterOptions(list)
    .option('--sort <order>', `${SORTS.join(', ')} (default newest)`, (value: string) => {
      if (!(SORTS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${SORTS.join(', ')}`);
      return value;
    })
    .option('-n, --limit <n>', 'at most this many tasks (1-1000, default 100)', wholeNumber(1, 1000))
    .option('--cursor <cursor>', 'the page that starts there: the cursor the previous page printed (same filters and sort)')
    .action(async (options: ListOptions, command: Command) => {
      const { config, client } = context.connect(command);
      const input: RouterInputs['tasks']['page'] = { ...taskFilter(options), sort: options.sort, limit: options.limit, cursor: options.cursor };
      if (config.json) return printJson(await client.tasks.page.query(input));
      const [page, names] = await Promise.all([client.tasks.page.query(input), typeNames(client)]);
      if (page.items.length === 0) print('No tasks match.');
      else {
        print(
          table(
            [
              { header: 'ID', align: 'right' },
              { header: 'TYPE' },
              { header: 'STATUS' },
              { header: 'PRIORITY', align: 'right' },
              { header: 'ATTEMPTS', align: 'right' },
              { header: 'CREATED' },
              { header: 'UPDATED' },
              { header: 'RUN AT' },
              { header: 'WORKER' },
            ],
            page.items.map((task) => [
              String(task.id),
              names.get(task.task_type_id) ?? `#${task.task_type_id}`,
              task.status,
              String(task.priority),
              attemptsOf(task),
              formatTime(task.created_at),
              formatTime(task.updated_at),
              formatTime(task.run_at),
              task.worker_id ?? NONE,
            ]),
          ),
        );
      }
      if (page.next_cursor) print(`\nMore tasks follow: add --cursor ${page.next_cursor} (same filters and sort) for the next page.`);
    });
  return list;
}

function showCommand(context: Context): Command {
  return new Command('show')
    .description('show a task and its attempts (each claim, and how it ended)')
    .argument('<id>', 'the task id', taskId)
    .action(async (id: number, _options: unknown, command: Command) => {
      const { config, client } = context.connect(command);
      const [task, attempts] = await Promise.all([client.tasks.get.query({ task_id: id }), client.tasks.attempts.query({ task_id: id })]);
      if (config.json) return printJson({ task, attempts });
      const type = await client.taskTypes.get.query({ task_type_id: task.task_type_id }).catch(() => undefined);
      print(
        keyValues([
          ['id', String(task.id)],
          ['type', type ? `${type.name} (${task.task_type_id})` : String(task.task_type_id)],
          ['status', task.status],
          ['priority', String(task.priority)],
          ['attempts', `${task.attempts} of ${task.max_attempts}`],
          ['created', formatTime(task.created_at)],
          ['updated', formatTime(task.updated_at)],
          ['run at', formatTime(task.run_at)],
          ['started', formatTime(task.started_at)],
          ['finished', formatTime(task.completed_at)],
          ['worker', task.worker_id ?? NONE],
          ['lease expires', formatTime(task.lease_expires_at)],
          ['progress', task.progress === null ? NONE : `${task.progress}%${task.progress_message ? ` ${task.progress_message}` : ''}`],
          ['idempotency key', task.idempotency_key ?? NONE],
          ['parameters', formatJson(task.parameters)],
          ['metadata', formatJson(task.metadata)],
          ['result', formatJson(task.result)],
          ['error', task.error_message ?? NONE],
        ]),
      );
      print();
      if (attempts.length === 0) return print('No attempts yet.');
      print('Attempts:');
      print(
        table(
          [
            { header: '#', align: 'right' },
            { header: 'WORKER' },
            { header: 'CLAIMED' },
            { header: 'FINISHED' },
            { header: 'OUTCOME' },
            { header: 'HEARTBEATS', align: 'right' },
            { header: 'PROGRESS', align: 'right' },
            { header: 'ERROR' },
          ],
          attempts.map((attempt) => [
            String(attempt.attempt),
            attempt.worker_id ?? NONE,
            formatTime(attempt.claimed_at),
            formatTime(attempt.finished_at),
            attempt.outcome ?? 'running',
            String(attempt.heartbeats),
            attempt.progress === null ? NONE : `${attempt.progress}%`,
            truncate(attempt.error_message, 60),
          ]),
        ),
      );
    });
}

interface CreateOptions {
  params?: string;
  paramsFile?: string;
  priority?: number;
  metadata?: string;
  runAt?: string;
  delay?: number;
  idempotencyKey?: string;
  maxAttempts?: number;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON object given on the command line, or a usage error naming the option. */
function jsonObject(command: Command, option: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    usageError(command, `${option} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) usageError(command, `${option} must be a JSON object ({…})`);
  return value as Record<string, unknown>;
}

function createCommand(context: Context): Command {
  return new Command('create')
    .description('create a task of a type')
    .argument('<type>', 'the task type’s name (or its id)')
    .option('-p, --params <json>', "the parameters, a JSON object; '-' reads them from stdin")
    .option('--params-file <file>', "read the parameters (a JSON object) from this file; '-' for stdin")
    .option('--priority <n>', '1 to 1000, lower runs first (default 100)', wholeNumber(1, 1000))
    .option('--metadata <json>', 'metadata, a JSON object')
    .option('--run-at <time>', 'not to run before this ISO time', isoTime)
    .option('--delay <seconds>', 'not to run for this many seconds (instead of --run-at)', seconds)
    .option('--idempotency-key <key>', 'a second create with this key for the type answers the first task')
    .option('--max-attempts <n>', "tries before the task fails for good (1-100; default: its type's)", wholeNumber(1, 100))
    .addHelpText(
      'after',
      `
Examples:
  prismq tasks create send_email --params '{"to": "ada@example.com"}' --priority 10
  echo '{"to": "ada@example.com"}' | prismq tasks create send_email --params - --delay 60
  prismq tasks create data_analysis --params-file params.json --idempotency-key report-2025-11 --json`,
    )
    .action(async (ref: string, options: CreateOptions, command: Command) => {
      if (options.params !== undefined && options.paramsFile !== undefined) usageError(command, 'give --params or --params-file, not both');
      if (options.runAt !== undefined && options.delay !== undefined) usageError(command, 'give --run-at or --delay, not both');
      const source = options.paramsFile ?? options.params;
      const fromStdin = source === '-';
      let text: string | undefined;
      if (fromStdin) text = await readStdin();
      else if (options.paramsFile !== undefined) {
        text = await readFile(options.paramsFile, 'utf8').catch((error: NodeJS.ErrnoException) =>
          usageError(command, `cannot read --params-file ${options.paramsFile}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`),
        );
      } else text = options.params;
      const parameters = text === undefined ? undefined : jsonObject(command, options.paramsFile !== undefined ? '--params-file' : '--params', text);
      const metadata = options.metadata === undefined ? undefined : jsonObject(command, '--metadata', options.metadata);

      const { config, client } = context.connect(command);
      const type = await findType(client, ref);
      const task = await client.tasks.create.mutate({
        task_type_id: type.id,
        parameters,
        metadata,
        priority: options.priority,
        run_at: options.runAt,
        delay_seconds: options.delay,
        idempotency_key: options.idempotencyKey,
        max_attempts: options.maxAttempts,
      });
      if (config.json) return printJson(task);
      print(`Created task ${task.id} (${type.name}): ${task.status}, priority ${task.priority}, runs from ${formatTime(task.run_at)}`);
    });
}

type Action = 'retry' | 'cancel' | 'delete';

const ACTIONS: Record<Action, { does: string; done: string; allowed: string; bulk: 'bulkRetry' | 'bulkCancel' | 'bulkDelete' }> = {
  retry: { does: 'retry', done: 'Retried', allowed: 'failed or cancelled tasks go back to pending, their attempts reset', bulk: 'bulkRetry' },
  cancel: { does: 'cancel', done: 'Cancelled', allowed: 'pending or running tasks are cancelled (a worker learns it at its next heartbeat)', bulk: 'bulkCancel' },
  delete: { does: 'delete', done: 'Deleted', allowed: 'tasks in any status are deleted, for good', bulk: 'bulkDelete' },
};

interface ActionOptions extends FilterOptions {
  limit?: number;
  yes?: boolean;
}

/** One task's outcome, in --json: its new status, or the error the server answered. */
type Outcome = { task_id: number; status: string } | { task_id: number; error: { status: number | null; detail: unknown } };

function actionCommand(context: Context, action: Action): Command {
  const { does, done, allowed, bulk } = ACTIONS[action];
  const command = new Command(action)
    .description(`${does} tasks, by id or (with filter options) every task that matches: ${allowed}`)
    .argument('[ids...]', 'task ids', (value: string, previous: number[] | undefined) => [...(previous ?? []), taskId(value)]);
  addFilterOptions(command).option('-n, --limit <n>', `with filters: ${does} at most this many tasks per run (1-1000, default 1000)`, wholeNumber(1, 1000));
  if (action === 'delete') command.option('-y, --yes', 'confirm deleting every task that matches the filters');
  command.addHelpText(
    'after',
    `
Without filter options, each task given is acted on by itself: a task not in a status this allows is an
error (exit 1). With filter options (the ones of 'prismq tasks list'), up to --limit matching tasks
change in one transaction, and those in other statuses are left as they are; ids given with filters
narrow them to those tasks. It prints how many changed, and whether more matched: run it again then.

Examples:
  prismq tasks ${action} 17 18 19
  prismq tasks ${action} --type send_email --status ${action === 'retry' ? 'failed' : 'pending'} --created-after 2025-11-06T22:00:00Z${action === 'delete' ? ' --yes' : ''}`,
  );
  command.action(async (ids: number[] | undefined, options: ActionOptions, self: Command) => {
    const taskIds = ids ?? [];
    const filter = taskFilter(options);
    const byFilter = Object.keys(filter).length > 0;
    if (!byFilter && taskIds.length === 0) usageError(self, `give the ids of the tasks to ${does}, or filter options to ${does} the tasks that match`);
    if (!byFilter && options.limit !== undefined) usageError(self, '--limit goes with filter options');
    if (byFilter && action === 'delete' && !options.yes) {
      usageError(self, 'deleting every task that matches filters needs --yes (see them first with prismq tasks list and the same filters)');
    }
    const { config, client } = context.connect(self);

    if (byFilter) {
      const result = await client.tasks[bulk].mutate({ ids: taskIds.length ? taskIds : undefined, filter, limit: options.limit });
      if (config.json) return printJson(result);
      print(`${done} ${plural(result.changed, 'task')}.`);
      if (result.more) print(`More tasks match: run the same command again to ${does} the next ${options.limit ?? 1000}.`);
      return;
    }

    // One call per task, sent together (one batched request), each answered on its own.
    const settled = await Promise.allSettled(
      taskIds.map(async (task_id): Promise<Outcome> => {
        if (action === 'delete') {
          await client.tasks.delete.mutate({ task_id });
          return { task_id, status: 'deleted' };
        }
        const task = await client.tasks[action].mutate({ task_id });
        return { task_id, status: task.status };
      }),
    );
    const outcomes = settled.map((result, index): Outcome => {
      const task_id = taskIds[index]!;
      if (result.status === 'fulfilled') return result.value;
      const info = errorInfo(result.reason);
      const message = describeError(result.reason, config.url).join('\n');
      note(`prismq: task ${task_id}: ${message}`);
      return { task_id, error: { status: info?.httpStatus ?? null, detail: info?.detail ?? message } };
    });
    if (config.json) printJson(outcomes);
    else for (const outcome of outcomes) if ('status' in outcome) print(`Task ${outcome.task_id}: ${outcome.status}`);
    if (outcomes.some((outcome) => 'error' in outcome)) process.exitCode = EXIT_ERROR;
  });
  return command;
}

export function tasksCommand(context: Context): Command {
  return new Command('tasks')
    .description('tasks: list, show, create, retry, cancel, delete')
    .addCommand(listCommand(context))
    .addCommand(showCommand(context))
    .addCommand(createCommand(context))
    .addCommand(actionCommand(context, 'retry'))
    .addCommand(actionCommand(context, 'cancel'))
    .addCommand(actionCommand(context, 'delete'));
}
