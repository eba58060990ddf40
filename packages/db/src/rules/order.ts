import type { Task } from '../types.js';

/** The order in which claims take tasks: priority ascending, then run_at, then id. */
export const claimOrder = (a: Pick<Task, 'priority' | 'run_at' | 'id'>, b: Pick<Task, 'priority' | 'run_at' | 'id'>): number =>
  a.priority - b.priority || a.run_at.localeCompare(b.run_at) || a.id - b.id;
