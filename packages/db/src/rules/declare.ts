/**
 * Declaring a task type by name (register it, or bring it in line): which fields of a type as
 * stored differ from what a service declares. Fields left out of the declaration are not compared.
 */
import type { TaskTypeCreate, TaskTypeUpdate } from '../store.js';
import type { TaskType } from '../types.js';

/** Equal as JSON values: objects equal whatever the order of their keys, arrays item by item. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  const aKeys = Object.keys(a);
  const bRecord = b as Record<string, unknown>;
  return aKeys.length === Object.keys(b).length && aKeys.every((key) => Object.hasOwn(bRecord, key) && jsonEqual((a as Record<string, unknown>)[key], bRecord[key]));
}

const DECLARED = ['description', 'parameters_schema', 'metadata', 'max_attempts', 'retry_base_seconds', 'retry_max_seconds'] as const;

/**
 * The update that brings `current` in line with `declared`, or undefined when it already is: then
 * the type is left as it is, its version (`updated_at`) included, so that declaring the same type
 * at every start-up of every replica changes nothing. Whether the type is active is never touched:
 * a type an operator deactivated stays so.
 */
export function declaredChanges(current: TaskType, declared: TaskTypeCreate): TaskTypeUpdate | undefined {
  const changes: Record<string, unknown> = {};
  for (const field of DECLARED) {
    const value = declared[field];
    if (value !== undefined && !jsonEqual(current[field], value)) changes[field] = value;
  }
  return Object.keys(changes).length ? (changes as TaskTypeUpdate) : undefined;
}
