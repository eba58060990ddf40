/** `prismq types list|show|codegen`: the task types registered on the server. */
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { PrismqClient, TaskType } from '@prismq/client';
import { displayUrl } from '../config.js';
import type { Context } from '../context.js';
import { formatAge, formatJson, formatTime, keyValues, note, print, printJson, table, truncate } from '../output.js';
import { typeRef } from '../options.js';
import { generateTaskTypesModule } from './codegen.js';

/** A task type by name, or by id when the reference is all digits. */
export function findType(client: PrismqClient, ref: string): Promise<TaskType> {
  const parsed = typeRef(ref);
  return 'id' in parsed ? client.taskTypes.get.query({ task_type_id: parsed.id }) : client.taskTypes.getByName.query({ name: parsed.name });
}

export function retryPolicy(type: Pick<TaskType, 'max_attempts' | 'retry_base_seconds' | 'retry_max_seconds'>): string {
  return `${type.max_attempts} attempts, backoff from ${formatAge(type.retry_base_seconds)} up to ${formatAge(type.retry_max_seconds)}`;
}

export function typesCommand(context: Context): Command {
  const types = new Command('types').description('task types: list them, show one, generate TypeScript types of their parameters');

  types
    .command('list')
    .description('list the task types, by name (active ones; --all for inactive ones too)')
    .option('-a, --all', 'include inactive (deleted) task types')
    .action(async (options: { all?: boolean }, command: Command) => {
      const { config, client } = context.connect(command);
      const list = await client.taskTypes.list.query({ include_inactive: options.all ?? false });
      if (config.json) return printJson(list);
      if (list.length === 0) return print(options.all ? 'No task types.' : 'No active task types (--all lists inactive ones too).');
      print(
        table(
          [
            { header: 'ID', align: 'right' },
            { header: 'NAME' },
            ...(options.all ? [{ header: 'ACTIVE' }] : []),
            { header: 'ATTEMPTS', align: 'right' as const },
            { header: 'RETRY BACKOFF' },
            { header: 'CREATED' },
            { header: 'DESCRIPTION' },
          ],
          list.map((type) => [
            String(type.id),
            type.name,
            ...(options.all ? [type.is_active ? 'yes' : 'no'] : []),
            String(type.max_attempts),
            `${formatAge(type.retry_base_seconds)}..${formatAge(type.retry_max_seconds)}`,
            formatTime(type.created_at),
            truncate(type.description, 60),
          ]),
        ),
      );
    });

  types
    .command('show')
    .description('show a task type: its parameters schema, retry policy and metadata')
    .argument('<type>', 'the type’s name, or its id')
    .action(async (ref: string, _options: unknown, command: Command) => {
      const { config, client } = context.connect(command);
      const type = await findType(client, ref);
      if (config.json) return printJson(type);
      print(
        keyValues([
          ['id', String(type.id)],
          ['name', type.name],
          ['active', type.is_active ? 'yes' : 'no (deleted: tasks of it are not claimed)'],
          ['description', type.description ?? '-'],
          ['retry policy', retryPolicy(type)],
          ['created', formatTime(type.created_at)],
          ['updated', formatTime(type.updated_at)],
          ['metadata', Object.keys(type.metadata).length ? JSON.stringify(type.metadata, null, 2) : formatJson(null)],
          ['parameters schema', Object.keys(type.parameters_schema).length ? JSON.stringify(type.parameters_schema, null, 2) : '{} (any parameters)'],
        ]),
      );
    });

  types
    .command('codegen')
    .description(
      'write a TypeScript module with a type of each task type’s parameters, and `TaskTypes`, their map by name, for createWorker<TaskTypes>(…)',
    )
    .option('-o, --out <file>', 'write the module to this file (default: stdout)')
    .option('-a, --all', 'include inactive task types')
    .action(async (options: { out?: string; all?: boolean }, command: Command) => {
      const { config, client } = context.connect(command);
      const list = await client.taskTypes.list.query({ include_inactive: options.all ?? false });
      const generated = await generateTaskTypesModule(list, displayUrl(config.url));
      if (options.out) {
        await writeFile(options.out, generated.source);
        if (config.json) printJson({ out: options.out, types: generated.names });
        else note(`Wrote the parameters of ${list.length} task type${list.length === 1 ? '' : 's'} to ${options.out}`);
        return;
      }
      if (config.json) printJson({ types: generated.names, source: generated.source });
      else process.stdout.write(generated.source);
    });

  return types;
}
