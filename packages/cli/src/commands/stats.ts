/** `prismq stats`: the queue at a glance (`stats.get`). */
import { Command } from 'commander';
import type { RouterOutputs } from '@prismq/client';
import type { Context } from '../context.js';
import { formatAge, formatMs, formatTime, keyValues, print, printJson, table } from '../output.js';
import { TASK_STATUSES } from '../options.js';

type Stats = RouterOutputs['stats']['get'];
type Throughput = Stats['per_minute'][number];

/** The completed, failed and retried attempts of some periods, added up. */
function total(periods: Throughput[]): string {
  const sum = (key: 'completed' | 'failed' | 'retried') => periods.reduce((n, period) => n + period[key], 0);
  return `${sum('completed')} completed, ${sum('failed')} failed, ${sum('retried')} retried`;
}

export function statsCommand(context: Context): Command {
  return new Command('stats')
    .description('the queue at a glance: tasks per type and status, the oldest pending task, wait and run times, throughput')
    .addHelpText(
      'after',
      `
Per type: the tasks in each status now, the age of the oldest pending task, and over the last hour the
p50 and p95 of the queue wait (from due to claimed) and of the run time (claimed to finished).
Then the attempts that completed, failed for good, or failed and were retried, over all types.
Figures lag changes by a few seconds. --json prints the server's whole answer, per minute and per hour.`,
    )
    .action(async (_options: unknown, command: Command) => {
      const { config, client } = context.connect(command);
      const stats = await client.stats.get.query();
      if (config.json) return printJson(stats);
      if (stats.types.length === 0) print('No task types.');
      else {
        print(
          table(
            [
              { header: 'TYPE' },
              ...TASK_STATUSES.map((status) => ({ header: status.toUpperCase(), align: 'right' as const })),
              { header: 'OLDEST PENDING', align: 'right' },
              { header: 'WAIT P50', align: 'right' },
              { header: 'WAIT P95', align: 'right' },
              { header: 'RUN P50', align: 'right' },
              { header: 'RUN P95', align: 'right' },
            ],
            stats.types.map((type) => [
              type.task_type,
              ...TASK_STATUSES.map((status) => String(type.counts[status] ?? 0)),
              formatAge(type.oldest_pending_age_seconds),
              formatMs(type.last_hour.wait_ms.p50),
              formatMs(type.last_hour.wait_ms.p95),
              formatMs(type.last_hour.run_ms.p50),
              formatMs(type.last_hour.run_ms.p95),
            ]),
          ),
        );
      }
      print();
      print(
        keyValues([
          ['this minute', total(stats.per_minute.slice(-1))],
          ['last hour', total(stats.per_minute)],
          ['last 24 hours', total(stats.per_hour)],
          ['as of', formatTime(stats.at)],
        ]),
      );
    });
}
