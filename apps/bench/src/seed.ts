/**
 * Fills a database for the get and list scenarios: tasks of four types, mostly pending, with a
 * share completed and failed, as a queue that has been running a while looks. Up to
 * `DAL_SEED_LIMIT` tasks go through the data-access layer; beyond that, those rows are copied by
 * SQL (`INSERT … SELECT`, each copy's `created_at` moved on past the previous one, the count
 * triggers keeping `task_counts` right), which fills a million in about a tenth of the time
 * (about 11 s instead of 110 s here) with the same mix of types and statuses.
 */
import { SqliteTaskStore, type TaskCreate } from '@prismq/db';
import Database from 'better-sqlite3';

export const SEED_TYPES = ['seed_email', 'seed_resize', 'seed_report', 'seed_webhook'] as const;
const BATCH = 1000;
/** Tasks seeded through the data-access layer; copied by SQL beyond. */
export const DAL_SEED_LIMIT = 100_000;
/** The table of tasks in `@prismq/db`'s SQLite schema. */
const TASK_TABLE = 'task_list';
/** The tenants the seeded tasks belong to (`metadata.tenant`), in turn. */
const TENANTS = ['acme', 'globex', 'initech'];
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
  const added = await seedThroughStore(path, Math.min(total, DAL_SEED_LIMIT));
  return added + copyTo(path, total);
}

/**
 * Copies the database's tasks (oldest first) until it holds `total`, each copy's `created_at`
 * moved on by the span of the rows copied, so that copies follow one another; returns how many
 * it added.
 */
function copyTo(path: string, total: number): number {
  const db = new Database(path);
  try {
    const columns = (db.prepare(`PRAGMA table_info(${TASK_TABLE})`).all() as { name: string }[]).map((column) => column.name).filter((name) => name !== 'id');
    if (!columns.includes('created_at')) throw new Error(`the database has no ${TASK_TABLE} table with a created_at column to copy`);
    const count = () => (db.prepare(`SELECT count(*) AS n FROM ${TASK_TABLE}`).get() as { n: number }).n;
    const base = count();
    if (base === 0 || base >= total) return 0;
    const { first, last } = db.prepare(`SELECT min(created_at) AS first, max(created_at) AS last FROM ${TASK_TABLE}`).get() as { first: string; last: string };
    const spanSeconds = (Date.parse(last) - Date.parse(first) + 1) / 1000;
    const selected = columns.map((name) => (name === 'created_at' ? `strftime('%Y-%m-%dT%H:%M:%fZ', created_at, ?)` : `"${name}"`));
    const copy = db.prepare(`INSERT INTO ${TASK_TABLE} (${columns.map((name) => `"${name}"`).join(', ')}) SELECT ${selected.join(', ')} FROM ${TASK_TABLE} ORDER BY id LIMIT ?`);
    let held = base;
    for (let round = 1; held < total; round++) {
      const size = Math.min(base, total - held);
      db.transaction(() => copy.run(`+${(round * spanSeconds).toFixed(3)} seconds`, size))();
      held += size;
    }
    return held - base;
  } finally {
    db.close();
  }
}

/** Adds tasks through the data-access layer until the database holds `total`; returns how many it added. */
async function seedThroughStore(path: string, total: number): Promise<number> {
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
        metadata: { tenant: TENANTS[(count + i) % TENANTS.length]! },
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
