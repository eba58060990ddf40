/**
 * What each operation refuses, and with which error: NotFoundError for a missing row,
 * ConflictError for a name taken or a move the status does not allow, InvalidStateError for a
 * task of an inactive type, LeaseLostError (kind `conflict`) for a lease no longer held. The
 * messages are part of the contract: the API shows them as they are.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, InvalidStateError, LeaseLostError, NotFoundError } from '../errors.js';
import type { TaskStore } from '../store.js';
import { forEachEngine } from './engines.js';
import { claimOne, leaseOf, newTask, newType, rejection } from './fixtures.js';

const MISSING = 987_654;
const lease = { worker_id: 'w', lease_id: 'no-such-lease' };

/** Every operation on a task or type by id, for an id that does not exist. */
const byMissingId: [string, (store: TaskStore) => Promise<unknown>, string][] = [
  ['getTaskType', (store) => store.getTaskType(MISSING), `Task type ${MISSING} not found`],
  ['updateTaskType', (store) => store.updateTaskType(MISSING, { description: 'x' }), `Task type ${MISSING} not found`],
  ['deactivateTaskType', (store) => store.deactivateTaskType(MISSING), `Task type ${MISSING} not found`],
  ['createTask', (store) => store.createTask({ task_type_id: MISSING }), `Task type ${MISSING} not found`],
  ['createTasks', (store) => store.createTasks([{ task_type_id: MISSING }]), `Task type ${MISSING} not found`],
  ['getTask', (store) => store.getTask(MISSING), `Task ${MISSING} not found`],
  ['updateTask', (store) => store.updateTask(MISSING, { status: 'running' }), `Task ${MISSING} not found`],
  ['deleteTask', (store) => store.deleteTask(MISSING), `Task ${MISSING} not found`],
  ['heartbeatTask', (store) => store.heartbeatTask(MISSING, lease, 60), `Task ${MISSING} not found`],
  ['completeTask', (store) => store.completeTask(MISSING, lease, null), `Task ${MISSING} not found`],
  ['failTask', (store) => store.failTask(MISSING, lease, 'x', true), `Task ${MISSING} not found`],
  ['cancelTask', (store) => store.cancelTask(MISSING), `Task ${MISSING} not found`],
  ['retryTask', (store) => store.retryTask(MISSING), `Task ${MISSING} not found`],
  ['revokeToken', (store) => store.revokeToken(String(MISSING)), `Token '${MISSING}' not found`],
];

forEachEngine((engine) => {
  describe('NotFoundError', () => {
    it.each(byMissingId)('from %s for an id that does not exist', async (_operation, operation, message) => {
      const error = await rejection(operation(engine.store));
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error).toMatchObject({ kind: 'not_found', message });
    });
  });

  describe('ConflictError', () => {
    it('from createTaskType for a name that is taken, by an active or an inactive type', async () => {
      const type = await newType(engine.store);
      const taken = await rejection(engine.store.createTaskType({ name: type.name }));
      expect(taken).toBeInstanceOf(ConflictError);
      expect(taken.message).toBe(`Task type '${type.name}' already exists`);
      await engine.store.deactivateTaskType(type.id);
      expect(await rejection(engine.store.createTaskType({ name: type.name }))).toBeInstanceOf(ConflictError);
    });

    it('from all but one of many concurrent creates of one name', async () => {
      const name = `concurrent_${engine.name}`;
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => engine.store.createTaskType({ name })));
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(ConflictError);
    });

    it('from cancelTask for a task that is completed, failed or cancelled', async () => {
      const type = await newType(engine.store, { max_attempts: 1 });
      const [done, failed, cancelled] = await engine.store.createTasks(Array.from({ length: 3 }, () => ({ task_type_id: type.id })));
      const a = await claimOne(engine.store, type);
      await engine.store.completeTask(done!.id, leaseOf(a), null);
      const b = await claimOne(engine.store, type);
      await engine.store.failTask(failed!.id, leaseOf(b), 'no', true);
      await engine.store.cancelTask(cancelled!.id);

      for (const [task, status] of [[done!, 'completed'], [failed!, 'failed'], [cancelled!, 'cancelled']] as const) {
        const error = await rejection(engine.store.cancelTask(task.id));
        expect(error).toBeInstanceOf(ConflictError);
        expect(error.message).toBe(`Task ${task.id} is ${status}: only pending or running tasks can be cancelled`);
        expect((await engine.store.getTask(task.id)).status).toBe(status);
      }
    });

    it('from retryTask for a task that is pending, running or completed', async () => {
      const type = await newType(engine.store);
      const [pending, running, done] = await engine.store.createTasks(Array.from({ length: 3 }, () => ({ task_type_id: type.id })));
      await engine.store.updateTask(done!.id, { status: 'completed' });
      await engine.store.updateTask(running!.id, { status: 'running' });

      for (const [task, status] of [[pending!, 'pending'], [running!, 'running'], [done!, 'completed']] as const) {
        const error = await rejection(engine.store.retryTask(task.id));
        expect(error).toBeInstanceOf(ConflictError);
        expect(error.message).toBe(`Task ${task.id} is ${status}: only failed or cancelled tasks can be retried`);
        expect((await engine.store.getTask(task.id)).status).toBe(status);
      }
    });
  });

  describe('InvalidStateError', () => {
    it('from createTask and createTasks for an inactive type', async () => {
      const type = await newType(engine.store);
      await engine.store.deactivateTaskType(type.id);
      // One at a time: a rejection that nothing awaits yet would be reported as unhandled.
      for (const create of [() => engine.store.createTask({ task_type_id: type.id }), () => engine.store.createTasks([{ task_type_id: type.id }])]) {
        const error = await rejection(create());
        expect(error).toBeInstanceOf(InvalidStateError);
        expect(error).toMatchObject({ kind: 'invalid_state', message: `Task type ${type.id} is not active` });
      }
    });
  });

  describe('LeaseLostError', () => {
    /** Why completing the task with `attempt` as its lease is refused: the end of the LeaseLostError's message. */
    const why = async (store: TaskStore, id: number, attempt: { worker_id: string; lease_id: string }) => {
      const error = await rejection(store.completeTask(id, attempt, null));
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error).toMatchObject({ kind: 'conflict' });
      expect(error.message).toMatch(new RegExp(`^Task ${id} is not leased to worker '${attempt.worker_id}' with lease '${attempt.lease_id}': `));
      return error.message.split(': ').at(-1);
    };

    it('says why the lease is not held: the task settled, another worker, a newer claim', async () => {
      const type = await newType(engine.store);
      const task = await newTask(engine.store, type);
      expect(await why(engine.store, task.id, lease)).toBe('it is pending');
      const claimed = await claimOne(engine.store, type, { worker_id: 'holder' });
      expect(await why(engine.store, task.id, { worker_id: 'impostor', lease_id: claimed.lease_id! })).toBe('it is leased to another worker');
      expect(await why(engine.store, task.id, { worker_id: 'holder', lease_id: 'stale' })).toBe('its lease was taken over by a newer claim');
      await engine.store.completeTask(task.id, leaseOf(claimed), null);
      expect(await why(engine.store, task.id, leaseOf(claimed))).toBe('it is completed');
    });
  });
});
