/** `prismq events`: follows live changes until Ctrl-C (SIGINT), against a real server. */
import { describe, expect, it, vi } from 'vitest';
import { at, type Running, start, useCliServer } from '../cli-testing.js';

const cli = useCliServer();

const WAIT = { timeout: 10_000, interval: 20 };

/** Waits until the command follows the stream (it says so on stderr), so that later changes reach it. */
const following = (events: Running) => vi.waitFor(() => expect(events.stderr).toContain('Following the changes of tasks at'), WAIT);

describe('prismq events', () => {
  it('prints a line per change made after it started, of the types asked for, until Ctrl-C', async () => {
    const watched = await cli.client.taskTypes.create.mutate({ name: 'watched' });
    const ignored = await cli.client.taskTypes.create.mutate({ name: 'ignored' });
    const events = start(['events', '--type', 'watched'], at(cli.server));
    try {
      await following(events);
      const task = await cli.client.tasks.create.mutate({ task_type_id: watched.id });
      await cli.client.tasks.create.mutate({ task_type_id: ignored.id });
      await cli.client.tasks.cancel.mutate({ task_id: task.id });
      await vi.waitFor(() => expect(events.stdout.trimEnd().split('\n')).toHaveLength(2), WAIT);
      const [created, cancelled] = events.stdout.trimEnd().split('\n');
      expect(created).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+task ${task.id}\\s+watched\\s+created\\s+pending$`));
      expect(cancelled).toMatch(new RegExp(`^\\S+Z\\s+task ${task.id}\\s+watched\\s+cancelled\\s+cancelled$`));
    } finally {
      expect(await events.stop('SIGINT')).toBe(0);
    }
  });

  it('--json: one change per line, filtered by kind; --since replays what came after an event', async () => {
    const type = await cli.client.taskTypes.create.mutate({ name: 'json_lines' });
    const events = start(['events', '--json', '--kind', 'created,cancelled', '--status', 'cancelled,pending'], at(cli.server));
    let first: { id: string; task_id: number; kind: string } | undefined;
    let cancelledTask: number | undefined;
    try {
      await following(events);
      const one = await cli.client.tasks.create.mutate({ task_type_id: type.id });
      const two = await cli.client.tasks.create.mutate({ task_type_id: type.id });
      cancelledTask = two.id;
      await cli.client.tasks.update.mutate({ task_id: one.id, priority: 3 }); // `updated`: not asked for
      await cli.client.tasks.cancel.mutate({ task_id: two.id });
      await vi.waitFor(() => expect(events.stdout.trimEnd().split('\n')).toHaveLength(3), WAIT);
      const lines = events.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
      expect(lines.map((change) => [change.task_id, change.kind, change.status])).toEqual([
        [one.id, 'created', 'pending'],
        [two.id, 'created', 'pending'],
        [two.id, 'cancelled', 'cancelled'],
      ]);
      expect(lines[0]).toMatchObject({ task_type_id: type.id, attempt: 0, worker_id: null, at: expect.any(String), id: expect.any(String) });
      first = lines[0];
    } finally {
      expect(await events.stop('SIGTERM')).toBe(0);
    }

    // From the first event on: the changes after it, made before this command started.
    const replay = start(['events', '--json', '--task', String(cancelledTask), '--since', first!.id], at(cli.server));
    try {
      await vi.waitFor(() => expect(replay.stdout.trimEnd().split('\n')).toHaveLength(2), WAIT);
      expect(replay.stdout.trimEnd().split('\n').map((line) => JSON.parse(line).kind)).toEqual(['created', 'cancelled']);
    } finally {
      await replay.stop();
    }
  });
});
