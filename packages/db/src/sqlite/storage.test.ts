import { copyFileSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../errors.js';
import type { SqliteTaskStore } from './store.js';
import { useTempStores } from './testing.js';

const open = useTempStores();

/** Tasks as another connection sees them: only what was committed. */
function committedTaskCount(path: string): number {
  const other = new Database(path, { readonly: true });
  try {
    return other.prepare('select count(*) from task_list').pluck().get() as number;
  } finally {
    other.close();
  }
}

/** As if the disk were full: the database may not take one page more than it has. */
function fillDisk(store: SqliteTaskStore): void {
  const client = store.db.$client;
  client.pragma(`max_page_count = ${client.pragma('page_count', { simple: true }) as number}`);
}

const big = { filler: 'x'.repeat(20_000) };

describe('storage failures', () => {
  it('rejects a write that needs room on a full disk with a StorageError, and commits the others of its group', async () => {
    const { store, path } = open();
    const type = await store.createTaskType({ name: 'filling' });
    fillDisk(store);
    const [small, large] = await Promise.allSettled([
      store.createTask({ task_type_id: type.id }),
      store.createTask({ task_type_id: type.id, parameters: big }),
    ]);
    expect(small.status).toBe('fulfilled');
    const error = (large as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ reason: 'full', code: 'SQLITE_FULL', message: expect.stringMatching(/^The database disk is full: /) });
    expect(committedTaskCount(path)).toBe(1);
  });

  it('turns a lock held past the busy timeout into an unavailable StorageError', async () => {
    const { store, path } = open({ busyTimeoutMs: 20 });
    const type = await store.createTaskType({ name: 'locked' });
    const other = new Database(path);
    other.exec('begin exclusive');
    try {
      await expect(store.createTask({ task_type_id: type.id })).rejects.toMatchObject({
        kind: 'storage',
        reason: 'unavailable',
        code: 'SQLITE_BUSY',
        message: expect.stringMatching(/^The database is unavailable: .*busy timeout/),
      });
    } finally {
      other.exec('rollback');
      other.close();
    }
  });

  it('is not healthy after a write failed for lack of room, until a probe write that needs a new page succeeds', async () => {
    const { store } = open();
    const type = await store.createTaskType({ name: 'probed' });
    expect(await store.health()).toEqual({ ok: true });
    fillDisk(store);
    // Room in the pages there are is not enough: the probe needs a page of its own.
    await store.createTask({ task_type_id: type.id });
    await expect(store.createTask({ task_type_id: type.id, parameters: big })).rejects.toBeInstanceOf(StorageError);
    const health = await store.health();
    expect(health).toEqual({ ok: false, detail: expect.stringMatching(/^The database disk is full: /) });
    expect(await store.health()).toEqual(health);

    store.db.$client.pragma('max_page_count = 1073741823');
    expect(await store.health()).toEqual({ ok: true });
    // The probe leaves nothing behind.
    expect(store.db.$client.prepare('select count(*) from storage_probe').pluck().get()).toBe(0);
  });

  it('refuses the writes of a group when the file at the path is no longer the one opened, and takes them again once it is back', async () => {
    const { store, path } = open();
    const type = await store.createTaskType({ name: 'moved' });
    renameSync(path, `${path}.away`);
    const refused = await Promise.allSettled([store.createTask({ task_type_id: type.id }), store.createTask({ task_type_id: type.id })]);
    for (const outcome of refused) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        reason: 'unavailable',
        message: `The database is unavailable: the database file ${path} was deleted or replaced while the server was running; restore it or restart the server`,
      });
    }
    expect(await store.health()).toMatchObject({ ok: false, detail: expect.stringMatching(/deleted or replaced/) });

    copyFileSync(`${path}.away`, path); // another file, with the same content
    await expect(store.createTask({ task_type_id: type.id })).rejects.toBeInstanceOf(StorageError);

    renameSync(`${path}.away`, path);
    expect(await store.health()).toEqual({ ok: true });
    await store.createTask({ task_type_id: type.id });
    expect(committedTaskCount(path)).toBe(1);
  });

  it('closes without throwing, and says so, when there is nothing to report', async () => {
    const { store } = open();
    await store.createTaskType({ name: 'closing' });
    expect(await store.close()).toEqual({});
    expect(await store.close()).toEqual({});
  });
});
