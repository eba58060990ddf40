/** `prismq events`: follows the changes of tasks as they happen (the `tasks.events` subscription). */
import { Command } from 'commander';
import type { PrismqClient, RouterInputs, TaskChange } from '@prismq/client';
import type { Context } from '../context.js';
import { displayUrl } from '../config.js';
import { note, print, printJsonLine } from '../output.js';
import { CHANGE_KINDS, collect, listOf, taskId, TASK_STATUSES, typeRef } from '../options.js';
import { typeNames } from './tasks.js';

interface EventsOptions {
  task?: number;
  type?: string[];
  status?: RouterInputs['tasks']['events']['statuses'];
  kind?: RouterInputs['tasks']['events']['kinds'];
  since?: string;
}

/** One change as a line: time, task, type, kind, status, then what else it says. */
function formatChange(change: TaskChange, typeName: string): string {
  const extra: string[] = [];
  if (change.attempt) extra.push(`attempt ${change.attempt}`);
  if (change.worker_id) extra.push(`worker ${change.worker_id}`);
  if (change.progress !== null) extra.push(`${change.progress}%`);
  if (change.message) extra.push(JSON.stringify(change.message));
  return [change.at, `task ${change.task_id}`.padEnd(11), typeName.padEnd(20), change.kind.padEnd(13), change.status.padEnd(9), extra.join(' ')]
    .join('  ')
    .trimEnd();
}

/** Resolves each type (name or id) to its id, by one list of every type. */
async function typeIds(client: PrismqClient, refs: string[]): Promise<number[]> {
  const types = await client.taskTypes.list.query({ include_inactive: true });
  return refs.map((ref) => {
    const parsed = typeRef(ref);
    const type = 'id' in parsed ? types.find((t) => t.id === parsed.id) : types.find((t) => t.name === parsed.name);
    if (!type) throw new Error(`no task type ${'id' in parsed ? `with id ${parsed.id}` : `named '${parsed.name}'`}`);
    return type.id;
  });
}

export function eventsCommand(context: Context): Command {
  return new Command('events')
    .description('follow the changes of tasks as they happen, one line each, until Ctrl-C')
    .option('--task <id>', 'only this task’s changes', taskId)
    .option('-t, --type <type>', 'only changes of tasks of this type (name or id); repeat it or give a comma list', collect)
    .option('-s, --status <status>', `only changes that left the task in this status (${TASK_STATUSES.join(', ')}); repeatable`, listOf(TASK_STATUSES))
    .option('-k, --kind <kind>', `only these kinds of change (${CHANGE_KINDS.join(', ')}); repeatable`, listOf(CHANGE_KINDS))
    .option('--since <event-id>', 'first replay every change after this event id (the first field of --json lines), then follow')
    .addHelpText(
      'after',
      `
Each line: time, task id, type, kind of change, the task's status after it, then the attempt, worker,
progress and message when there are. With --json, one JSON object per line (its "id" is the event id
for --since). A stream that breaks reconnects by itself and resumes after the last change it printed.

Examples:
  prismq events --type send_email --kind completed,failed
  prismq events --task 17 --json`,
    )
    .action(async (options: EventsOptions, command: Command) => {
      const { config, client } = context.connect(command);
      if (options.since !== undefined && (options.since.length === 0 || options.since.length > 64)) {
        command.error('--since must be an event id (1 to 64 characters)', { exitCode: 2 });
      }
      // Also checks that the server answers, before following.
      const names = await typeNames(client);
      const input: RouterInputs['tasks']['events'] = {
        task_id: options.task,
        task_type_ids: options.type?.length ? await typeIds(client, options.type) : undefined,
        statuses: options.status,
        kinds: options.kind,
        lastEventId: options.since,
      };

      await new Promise<void>((resolve, reject) => {
        const subscription = client.tasks.events.subscribe(input, {
          onStarted: () => note(`Following the changes of tasks at ${displayUrl(config.url)} (Ctrl-C to stop)`),
          onData: ({ data: change }) => {
            if (config.json) return printJsonLine(change);
            let name = names.get(change.task_type_id);
            if (name === undefined) {
              // A type registered since we started: looked up once, in the background.
              name = `#${change.task_type_id}`;
              names.set(change.task_type_id, name);
              void client.taskTypes.get
                .query({ task_type_id: change.task_type_id })
                .then((type) => names.set(type.id, type.name))
                .catch(() => {});
            }
            print(formatChange(change, name));
          },
          onError: (error) => {
            subscription.unsubscribe();
            reject(error);
          },
        });
        const stop = () => {
          subscription.unsubscribe();
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
