/**
 * Declaring a task type (TaskTypeStore.declareTaskType), the same on every engine: built on the
 * store's own reads and writes, so each engine keeps only its SQL.
 */
import { ConflictError, NotFoundError } from './errors.js';
import { declaredChanges } from './rules/index.js';
import type { DeclaredTaskType, TaskTypeCreate, TaskTypeStore } from './store.js';

/** Registers `input`, or updates the type of its name where it differs; a registration lost to another writer is retried as an update. */
export async function declareTaskType(store: TaskTypeStore, input: TaskTypeCreate): Promise<DeclaredTaskType> {
  for (let attempt = 0; ; attempt++) {
    const current = await store.getTaskTypeByName(input.name).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    if (current) {
      const changes = declaredChanges(current, input);
      return { type: changes ? await store.updateTaskType(current.id, changes) : current, created: false };
    }
    try {
      return { type: await store.createTaskType(input), created: true };
    } catch (error) {
      // Another server registered the name since it was read: declare against that type.
      if (!(error instanceof ConflictError) || attempt >= 2) throw error;
    }
  }
}
