/**
 * Fills a database through the data-access layer, for the get and list scenarios: tasks of four
 * types, mostly pending, with a share completed and failed, as a queue that has been running a
 * while looks.
 */
import { SqliteTaskStore, type TaskCreate } from '@prismq/db';

export const SEED_TYPES = ['seed_email', 'seed_resize', 'seed_report', 'seed_webhook'] as const;
const BATCH = 1000;
/** Of each batch, how many are then run to completed, and how many to failed. */
const COMPLETED_PER_BATCH = 100;
const FAILED_PER_BATCH = 10;

/** Type ids by name, creating the types on first use. */
export async function seedTypes(store: SqliteTaskStore): Promise<number[]> {
  const existing = new Map((await store.listTaskTypes({ include_inactive: true })).map((type) => [type.name, type.id]));
  const ids: number[] = [];
  for (const name of SEED_TYPES) ids.push(existing.get(name) ?? (await store.createTaskType({ name })).id);
  return ids;
}

/** Adds tasks until the database holds `total`; returns how many it added. */
export async function seedTo(path: string, total: number): Promise<number> {
  const store = new SqliteTaskStore(path);
  try {
    const typeIds = await seedTypes(store);
    let count = (await store.countTasks()).reduce((sum, row) => sum + row.count, 0);
    const start = count;
    while (count < total) {
      const size = Math.min(BATCH, total - count);
      const inputs: TaskCreate[] = Array.from({ length: size }, (_, i) => ({
        task_type_id: typeIds[(count + i) % typeIds.length]!,
        parameters: { n: count + i, url: `https://example.com/items/${count + i}` },
        priority: 1 + ((count + i) % 200),
      }));
      await store.createTasks(inputs);
      const lease = { worker_id: 'seed' };
      const claimed = await store.claimTasks({ ...lease, limit: Math.min(size, COMPLETED_PER_BATCH + FAILED_PER_BATCH), lease_seconds: 60 });
      // Settled together: one group commit for the lot.
      await Promise.all(
        claimed.map((task, index) => {
          const held = { ...lease, lease_id: task.lease_id! };
          return index < FAILED_PER_BATCH ? store.failTask(task.id, held, 'seeded failure', false) : store.completeTask(task.id, held, { ok: true });
        }),
      );
      count += size;
    }
    return count - start;
  } finally {
    await store.close();
  }
}
