/** `prismq tasks …` against a real server. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task, TaskType } from '@prismq/client';
import { describe, expect, it } from 'vitest';
import { at, run, useCliServer } from '../cli-testing.js';

const cli = useCliServer();

let typeCount = 0;
const newType = (schema: Record<string, unknown> = {}) => cli.client.taskTypes.create.mutate({ name: `cli_type_${++typeCount}`, parameters_schema: schema });

/** A task of the type that has failed for good (one attempt, failed by its worker). */
async function failedTask(type: TaskType, parameters: Record<string, unknown> = {}): Promise<Task> {
  const task = await cli.client.tasks.create.mutate({ task_type_id: type.id, parameters, max_attempts: 1 });
  const [claimed] = await cli.client.tasks.claim.mutate({ worker_id: 'cli-worker', task_type_ids: [type.id] });
  expect(claimed?.id).toBe(task.id);
  return cli.client.tasks.fail.mutate({ task_id: task.id, worker_id: 'cli-worker', lease_id: claimed!.lease_id!, error_message: 'relay timeout' });
}

const ids = (stdout: string) => (JSON.parse(stdout) as { items: Task[] }).items.map((task) => task.id);

describe('prismq tasks list', () => {
  it('shows exactly the tasks that match the filters, in a table with their type names', async () => {
    const emails = await newType();
    const other = await newType();
    const failed = await failedTask(emails, { to: 'ada@northwind.example' });
    const cancelled = await cli.client.tasks.create.mutate({ task_type_id: emails.id, priority: 5, metadata: { customer: 'acme' } });
    await cli.client.tasks.cancel.mutate({ task_id: cancelled.id });
    const pending = await cli.client.tasks.create.mutate({ task_type_id: emails.id, priority: 50, metadata: { customer: 'acme' } });
    await cli.client.tasks.create.mutate({ task_type_id: other.id, priority: 5, metadata: { customer: 'acme' } });

    const table = await run(['tasks', 'list', '--type', emails.name, '--status', 'failed,cancelled'], at(cli.server));
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s*ID\s+TYPE\s+STATUS\s+PRIORITY\s+ATTEMPTS\s+CREATED\s+UPDATED\s+RUN AT\s+WORKER$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^\\s*${cancelled.id}\\s+${emails.name}\\s+cancelled\\s+5\\s+0/3\\s`));
    expect(lines[2]).toMatch(new RegExp(`^\\s*${failed.id}\\s+${emails.name}\\s+failed\\s+100\\s+1/1\\s.*\\scli-worker$`));

    const json = async (...args: string[]) => {
      const result = await run(['tasks', 'list', '--json', ...args], at(cli.server));
      expect(result.code, result.stderr).toBe(0);
      return ids(result.stdout);
    };
    // Statuses repeated rather than listed, and the type by id.
    expect(await json('--type', String(emails.id), '-s', 'failed', '-s', 'cancelled')).toEqual([cancelled.id, failed.id]);
    expect(await json('--metadata', 'customer=acme', '--type', emails.name, '--priority-max', '10')).toEqual([cancelled.id]);
    expect(await json('--metadata', 'customer=acme', '--priority-min', '10', '--sort', 'oldest')).toEqual([pending.id]);
    expect(await json('-q', 'ada@northwind.example')).toEqual([failed.id]);
    expect(await json('--worker', 'cli-worker', '--finished-after', failed.completed_at!)).toEqual([failed.id]);
    expect(await json('--type', emails.name, '--created-after', '2999-01-01')).toEqual([]);
    expect((await run(['tasks', 'list', '--type', emails.name, '--created-after', '2999-01-01'], at(cli.server))).stdout).toBe('No tasks match.\n');
  });

  it('pages with --limit and --cursor, printing the next cursor', async () => {
    const type = await newType();
    const created = [];
    for (let i = 0; i < 3; i++) created.push(await cli.client.tasks.create.mutate({ task_type_id: type.id }));

    const first = await run(['tasks', 'list', '--type', type.name, '--limit', '2'], at(cli.server));
    const cursor = /add --cursor (\S+) /.exec(first.stdout)?.[1];
    expect(cursor).toBeDefined();
    const firstPage = await run(['tasks', 'list', '--type', type.name, '--limit', '2', '--json'], at(cli.server));
    expect(JSON.parse(firstPage.stdout)).toMatchObject({ items: [{ id: created[2]!.id }, { id: created[1]!.id }], next_cursor: cursor });

    const second = await run(['tasks', 'list', '--type', type.name, '--limit', '2', '--cursor', cursor!, '--json'], at(cli.server));
    expect(JSON.parse(second.stdout)).toMatchObject({ items: [{ id: created[0]!.id }], next_cursor: null });
  });
});

describe('prismq tasks create and show', () => {
  it('creates a task of a type by name, with every option, and shows it with its attempts', async () => {
    const type = await newType({ type: 'object', properties: { to: { type: 'string' } }, required: ['to'] });
    const created = await run(
      [
        'tasks',
        'create',
        type.name,
        '--params',
        '{"to": "ada@example.com"}',
        '--priority',
        '7',
        '--metadata',
        '{"customer": "acme"}',
        '--delay',
        '3600',
        '--idempotency-key',
        'order-17',
        '--max-attempts',
        '2',
        '--json',
      ],
      at(cli.server),
    );
    expect(created.code, created.stderr).toBe(0);
    const task = JSON.parse(created.stdout) as Task;
    expect(task).toMatchObject({
      task_type_id: type.id,
      status: 'pending',
      parameters: { to: 'ada@example.com' },
      priority: 7,
      metadata: { customer: 'acme' },
      idempotency_key: 'order-17',
      max_attempts: 2,
    });
    expect(Date.parse(task.run_at) - Date.parse(task.created_at)).toBeCloseTo(3_600_000, -3);
    expect(await cli.client.tasks.get.query({ task_id: task.id })).toEqual(task);

    const shown = await run(['tasks', 'show', String(task.id)], at(cli.server));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^type\\s+${type.name} \\(${type.id}\\)$`, 'm'));
    expect(shown.stdout).toMatch(/^status\s+pending$/m);
    expect(shown.stdout).toMatch(/^priority\s+7$/m);
    expect(shown.stdout).toMatch(/^parameters\s+\{"to":"ada@example.com"\}$/m);
    expect(shown.stdout).toContain('No attempts yet.');

    // The same key again: the first task, not a second one.
    const again = await run(['tasks', 'create', type.name, '--params', '{"to": "bob@example.com"}', '--idempotency-key', 'order-17'], at(cli.server));
    expect(again.stdout).toBe(`Created task ${task.id} (${type.name}): pending, priority 7, runs from ${task.run_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}\n`);
  });

  it('reads the parameters from stdin (-) or a file, and prints each problem of a 422 on its own line', async () => {
    const type = await newType({ type: 'object', properties: { to: { type: 'string' }, n: { type: 'integer' } }, required: ['to'] });
    const fromStdin = await run(['tasks', 'create', type.name, '--params', '-', '--json'], { ...at(cli.server), input: '{"to": "stdin@example.com"}' });
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ parameters: { to: 'stdin@example.com' } });

    const dir = mkdtempSync(join(tmpdir(), 'prismq-cli-'));
    try {
      writeFileSync(join(dir, 'params.json'), '{"to": "file@example.com", "n": 3}');
      const fromFile = await run(['tasks', 'create', String(type.id), '--params-file', join(dir, 'params.json'), '--json'], at(cli.server));
      expect(JSON.parse(fromFile.stdout)).toMatchObject({ task_type_id: type.id, parameters: { to: 'file@example.com', n: 3 } });
      const missingFile = await run(['tasks', 'create', type.name, '--params-file', join(dir, 'nope.json')], at(cli.server));
      expect(missingFile.code).toBe(2);
      expect(missingFile.stderr).toContain('cannot read --params-file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const invalid = await run(['tasks', 'create', type.name, '--params', '{"n": "three"}', '--priority', '1'], at(cli.server));
    expect(invalid).toMatchObject({ code: 1, stdout: '' });
    const [first, ...problems] = invalid.stderr.trimEnd().split('\n');
    expect(first).toBe('prismq: HTTP 422: the request is not valid:');
    expect(problems.sort()).toEqual(["  parameters.n: must be integer", "  parameters.to: must have required property 'to'"].sort());

    const unknown = await run(['tasks', 'create', 'no_such_type'], at(cli.server));
    expect(unknown).toMatchObject({ code: 1, stderr: "prismq: HTTP 404: Task type 'no_such_type' not found\n" });
  });

  it('show --json gives the task and its attempts; an unknown task is a 404', async () => {
    const type = await newType();
    const task = await failedTask(type);
    const shown = await run(['tasks', 'show', String(task.id), '--json'], at(cli.server));
    expect(JSON.parse(shown.stdout)).toEqual({ task, attempts: await cli.client.tasks.attempts.query({ task_id: task.id }) });

    const table = await run(['tasks', 'show', String(task.id)], at(cli.server));
    expect(table.stdout).toMatch(/^Attempts:\n\s*#\s+WORKER\s+CLAIMED\s+FINISHED\s+OUTCOME\s+HEARTBEATS\s+PROGRESS\s+ERROR\n\s*1\s+cli-worker\s.*\sfailed\s+0\s+-\s+relay timeout$/m);

    const missing = await run(['tasks', 'show', '999999'], at(cli.server));
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'prismq: HTTP 404: Task 999999 not found\n' });
  });
});

describe('prismq tasks retry, cancel and delete', () => {
  it('by ids: each task changes, and one that cannot is an error of its own (exit 1)', async () => {
    const type = await newType();
    const failed = await failedTask(type);
    const pending = await cli.client.tasks.create.mutate({ task_type_id: type.id });

    const retried = await run(['tasks', 'retry', String(failed.id)], at(cli.server));
    expect(retried).toMatchObject({ code: 0, stdout: `Task ${failed.id}: pending\n`, stderr: '' });
    expect(await cli.client.tasks.get.query({ task_id: failed.id })).toMatchObject({ status: 'pending', attempts: 0 });

    const cancelled = await run(['tasks', 'cancel', String(failed.id), String(pending.id), '--json'], at(cli.server));
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toEqual([
      { task_id: failed.id, status: 'cancelled' },
      { task_id: pending.id, status: 'cancelled' },
    ]);

    // A cancelled task cannot be cancelled again: 409 for it, the other one still changes.
    const other = await cli.client.tasks.create.mutate({ task_type_id: type.id });
    const mixed = await run(['tasks', 'cancel', String(pending.id), String(other.id)], at(cli.server));
    expect(mixed.code).toBe(1);
    expect(mixed.stdout).toBe(`Task ${other.id}: cancelled\n`);
    expect(mixed.stderr).toMatch(new RegExp(`^prismq: task ${pending.id}: HTTP 409: .+\\n$`));

    const deleted = await run(['tasks', 'delete', String(pending.id), '999999', '--json'], at(cli.server));
    expect(deleted.code).toBe(1);
    expect(JSON.parse(deleted.stdout)).toEqual([
      { task_id: pending.id, status: 'deleted' },
      { task_id: 999999, error: { status: 404, detail: 'Task 999999 not found' } },
    ]);
    expect((await run(['tasks', 'show', String(pending.id)], at(cli.server))).code).toBe(1);
  });

  it('by filter: the bulk action on the matching tasks, {changed, more}; delete asks for --yes', async () => {
    const type = await newType();
    const failed = [await failedTask(type), await failedTask(type)];
    const pending = [];
    for (let i = 0; i < 3; i++) pending.push(await cli.client.tasks.create.mutate({ task_type_id: type.id, metadata: { batch: 'b1' } }));

    const retried = await run(['tasks', 'retry', '--type', type.name, '--status', 'failed', '--json'], at(cli.server));
    expect(JSON.parse(retried.stdout)).toEqual({ changed: 2, more: false });
    for (const task of failed) expect((await cli.client.tasks.get.query({ task_id: task.id })).status).toBe('pending');

    const partly = await run(['tasks', 'cancel', '--metadata', 'batch=b1', '--limit', '2'], at(cli.server));
    expect(partly).toMatchObject({ code: 0, stderr: '' });
    expect(partly.stdout).toBe('Cancelled 2 tasks.\nMore tasks match: run the same command again to cancel the next 2.\n');
    const rest = await run(['tasks', 'cancel', '--metadata', 'batch=b1', '--status', 'pending', '--json'], at(cli.server));
    expect(JSON.parse(rest.stdout)).toEqual({ changed: 1, more: false });

    const unconfirmed = await run(['tasks', 'delete', '--type', type.name], at(cli.server));
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('needs --yes');
    expect((await cli.client.tasks.page.query({ task_type: type.name })).items).toHaveLength(5);

    // Ids with a filter: those of the ids that match.
    const some = await run(['tasks', 'delete', String(failed[0]!.id), String(pending[0]!.id), '--status', 'cancelled', '--yes'], at(cli.server));
    expect(some.stdout).toBe('Deleted 1 task.\n');
    const all = await run(['tasks', 'delete', '--type', type.name, '--yes', '--json'], at(cli.server));
    expect(JSON.parse(all.stdout)).toEqual({ changed: 4, more: false });
    expect((await cli.client.tasks.page.query({ task_type: type.name })).items).toEqual([]);
  });
});
