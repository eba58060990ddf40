/** What the contract suite's cases share: fresh task types, claims, leases, and waiting without sleeping. */
import { expect, vi } from 'vitest';
import { ValidationError, type Problem } from '../errors.js';
import type { ClaimRequest, Lease, TaskCreate, TaskStore, TaskTypeCreate } from '../store.js';
import type { Task, TaskType } from '../types.js';

/** How long a case polls for something that comes with time (a lease running out, a signal). */
export const WAIT = { timeout: 10_000, interval: 20 };

/** A lease, in seconds, that runs out while a case waits for it. */
export const SHORT_LEASE = 0.2;

/** A lease that holds for the whole of any case. */
export const LONG_LEASE = 600;

/** A timestamp as every engine gives it: ISO 8601 in UTC. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

let typeCount = 0;

/** A new task type with a name no other case uses. */
export function newType(store: TaskStore, options: Partial<TaskTypeCreate> = {}): Promise<TaskType> {
  return store.createTaskType({ name: `contract_${++typeCount}`, ...options });
}

/** Creates a task of `type` and returns it. */
export async function newTask(store: TaskStore, type: Pick<TaskType, 'id'>, input: Partial<TaskCreate> = {}): Promise<Task> {
  return (await store.createTask({ task_type_id: type.id, ...input })).task;
}

/** Creates `count` tasks of `type` in one batch. */
export function newTasks(store: TaskStore, type: Pick<TaskType, 'id'>, count: number, input: Partial<TaskCreate> = {}): Promise<Task[]> {
  return store.createTasks(Array.from({ length: count }, () => ({ task_type_id: type.id, ...input })));
}

/** A claim of one task of `type` by worker `w` under a long lease, unless told otherwise. */
export function claimRequest(type: Pick<TaskType, 'id'>, request: Partial<ClaimRequest> = {}): ClaimRequest {
  return { worker_id: 'w', task_type_ids: [type.id], limit: 1, lease_seconds: LONG_LEASE, ...request };
}

export function claim(store: TaskStore, type: Pick<TaskType, 'id'>, request: Partial<ClaimRequest> = {}): Promise<Task[]> {
  return store.claimTasks(claimRequest(type, request));
}

/** Claims one task of `type`, which there must be. */
export async function claimOne(store: TaskStore, type: Pick<TaskType, 'id'>, request: Partial<ClaimRequest> = {}): Promise<Task> {
  const [task] = await claim(store, type, request);
  expect(task, 'a claimable task').toBeDefined();
  return task!;
}

/** Claims from `type` until a task comes (its run_at or a lease's expiry coming due), polling. */
export async function claimWhenDue(store: TaskStore, type: Pick<TaskType, 'id'>, request: Partial<ClaimRequest> = {}): Promise<Task> {
  return vi.waitFor(async () => {
    const [task] = await claim(store, type, request);
    if (!task) throw new Error(`nothing of type ${type.id} is claimable yet`);
    return task;
  }, WAIT);
}

/** The proof of the lease a claim returned. */
export const leaseOf = (task: Task): Lease => ({ worker_id: task.worker_id!, lease_id: task.lease_id! });

/** Waits until a lease that was claimed has run out, by the clock. */
export async function leaseRunOut(task: Task): Promise<void> {
  const expires = Date.parse(task.lease_expires_at!);
  await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(expires), WAIT);
}

export const idsOf = (tasks: Task[]): number[] => tasks.map((task) => task.id);

/** Every task of a type, newest first. */
export function tasksOf(store: TaskStore, type: Pick<TaskType, 'id'>): Promise<Task[]> {
  return store.listTasks({ task_type_id: type.id, limit: 1000 });
}

/** Milliseconds from one timestamp to another. */
export const msBetween = (from: string, to: string): number => Date.parse(to) - Date.parse(from);

/** What `promise` rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the operation to fail');
}

/** The problems of the ValidationError that `promise` rejects with. */
export async function problemsOf(promise: Promise<unknown>): Promise<Problem[]> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(ValidationError);
  const { problems } = error as ValidationError;
  for (const problem of problems) expect(problem).toMatchObject({ message: expect.any(String), type: expect.any(String) });
  return problems;
}

export const pathsOf = (problems: Problem[]): Problem['path'][] => problems.map((problem) => problem.path);

/**
 * A claim waiting through TaskStore.waitToClaim, recording how the store answered it: with the
 * tasks it leased to the claim, or by waking it.
 */
export function waitingClaim(store: TaskStore, request: ClaimRequest) {
  const answers: (Task[] | 'woken')[] = [];
  const stop = store.waitToClaim(request, { claimed: (tasks) => answers.push(tasks), woken: () => answers.push('woken') });
  return {
    request,
    answers,
    stop,
    /** The store's answer, once it comes. */
    answer: () =>
      vi.waitFor(() => {
        if (answers.length === 0) throw new Error(`the claim of ${request.worker_id} has no answer yet`);
        return answers[0]!;
      }, WAIT),
    /** The tasks the claim ends up with: those handed to it, or, woken, those it then claims. */
    async tasks(): Promise<Task[]> {
      const answer = await this.answer();
      return answer === 'woken' ? store.claimTasks(request) : answer;
    },
  };
}
