/** `prismq stats` against a real server. */
import { describe, expect, it } from 'vitest';
import { at, run, useCliServer } from '../cli-testing.js';

const cli = useCliServer();

describe('prismq stats', () => {
  it('shows the tasks of each type per status, and the throughput; --json the server’s answer', async () => {
    const mail = await cli.client.taskTypes.create.mutate({ name: 'mail' });
    const idle = await cli.client.taskTypes.create.mutate({ name: 'idle' });
    for (let i = 0; i < 3; i++) await cli.client.tasks.create.mutate({ task_type_id: mail.id });
    const cancelled = await cli.client.tasks.create.mutate({ task_type_id: mail.id });
    await cli.client.tasks.cancel.mutate({ task_id: cancelled.id });
    const [claimed] = await cli.client.tasks.claim.mutate({ worker_id: 'w', task_type_ids: [mail.id] });
    await cli.client.tasks.complete.mutate({ task_id: claimed!.id, worker_id: 'w', lease_id: claimed!.lease_id! });

    const table = await run(['stats'], at(cli.server));
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^TYPE\s+PENDING\s+RUNNING\s+COMPLETED\s+FAILED\s+CANCELLED\s+OLDEST PENDING\s+WAIT P50\s+WAIT P95\s+RUN P50\s+RUN P95$/);
    expect(lines[1]).toMatch(/^idle\s+0\s+0\s+0\s+0\s+0\s+-\s+-\s+-\s+-\s+-$/);
    // Two pending, one completed, one cancelled; the oldest pending was created moments ago.
    expect(lines[2]).toMatch(/^mail\s+2\s+0\s+1\s+0\s+1\s+\d+(\.\d)?s\s/);
    expect(table.stdout).toMatch(/^last hour\s+\d+ completed, \d+ failed, \d+ retried$/m);
    expect(table.stdout).toMatch(/^last 24 hours\s+\d+ completed, \d+ failed, \d+ retried$/m);

    const json = await run(['stats', '--json'], at(cli.server));
    const stats = JSON.parse(json.stdout);
    expect(stats.types).toEqual([
      expect.objectContaining({ task_type_id: idle.id, task_type: 'idle' }),
      expect.objectContaining({ task_type_id: mail.id, counts: { pending: 2, running: 0, completed: 1, failed: 0, cancelled: 1 } }),
    ]);
    expect(stats.per_minute).toHaveLength(60);
    expect(stats.per_hour).toHaveLength(24);
  });
});
