import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { useTempStores } from './testing.js';

const open = useTempStores();

/** Tasks as another connection sees them: only what was committed. */
function committedTaskCount(path: string): number {
  const other = new Database(path, { readonly: true });
  try {
    return (other.prepare('select count(*) as n from task_list').get() as { n: number }).n;
  } finally {
    other.close();
  }
}

describe('group commit', () => {
  it('commits the writes asked for together, and a failing one leaves the others in', async () => {
    const { store, path } = open();
    const type = await store.createTaskType({
      name: 'typed',
      parameters_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
    });
    const outcomes = await Promise.allSettled([
      store.createTask({ task_type_id: type.id, parameters: { n: 1 } }),
      store.createTask({ task_type_id: type.id, parameters: { n: 'two' } }),
      store.createTask({ task_type_id: type.id, parameters: { n: 3 } }),
      store.createTask({ task_type_id: 999, parameters: { n: 4 } }),
      store.createTasks([
        { task_type_id: type.id, parameters: { n: 5 } },
        { task_type_id: type.id, parameters: {} },
      ]),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'rejected']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(ValidationError);
    // Acknowledged means committed: another connection sees exactly the two that succeeded,
    // and nothing of the batch that failed as a whole.
    expect(committedTaskCount(path)).toBe(2);
    expect((await store.listTasks({ limit: 10 })).map((task) => task.parameters).sort((a, b) => Number(a.n) - Number(b.n))).toEqual([
      { n: 1 },
      { n: 3 },
    ]);
  });

  it('rejects every write of a group that cannot commit, and goes on with the next group', async () => {
    const { store, path } = open({ busyTimeoutMs: 50 });
    const type = await store.createTaskType({ name: 'plain' });
    // Another process holds the write lock for longer than the busy timeout.
    const other = new Database(path);
    other.exec('begin exclusive');
    const blocked = await Promise.allSettled([store.createTask({ task_type_id: type.id }), store.createTask({ task_type_id: type.id })]);
    expect(blocked.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect((blocked[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_BUSY' });
    other.exec('rollback');
    other.close();

    const { task } = await store.createTask({ task_type_id: type.id });
    expect(task.id).toBeGreaterThan(0);
    expect(committedTaskCount(path)).toBe(1);
  });
});
