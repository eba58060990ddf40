/**
 * Validating task parameters around a write, for every engine. Validation never runs inside a
 * write: it can cost far more than its input suggests, and the write (its lock, its connection)
 * would be held meanwhile. So a write that needs it validates first, off the main thread (see
 * ParameterValidator), against the type as read then, and checks inside the write that the type
 * is still that version (requireChecked); if not, it validates again (TypeChangedError).
 */
import { ConflictError, InvalidStateError, taskTypeNotFound, ValidationError, type Problem } from './errors.js';
import { acceptsAnything, typeVersion, type ParameterValidator } from './parameters.js';
import { newTask } from './rules/defaults.js';
import type { TaskCreate } from './store.js';
import type { JsonObject, Task, TaskType } from './types.js';

/**
 * How many times a create or update validates its parameters again when their type changes
 * between the validation and the write, before it gives up with a ConflictError.
 */
const VALIDATION_ATTEMPTS = 5;

/**
 * A write's parameters as validated, before the write and off the main thread (see
 * ParameterValidator), against one version of their type: the problems found, none if valid.
 */
export interface CheckedParameters {
  version: string;
  problems: Problem[];
}

/**
 * The type changed between the validation of a write's parameters and the write, or the write
 * needs parameters validated that were not: the store validates again and retries the write.
 */
export class TypeChangedError extends ConflictError {
  constructor(typeId: number) {
    super(`Task type ${typeId} kept changing while the parameters were validated; try again`);
  }
}

/**
 * Inside a write: parameters for `type` must have been validated against this very version of
 * it, unless its schema accepts anything; throws their problems if they had any.
 */
export function requireChecked(type: TaskType, checked: CheckedParameters | undefined): void {
  if (acceptsAnything(type.parameters_schema)) return;
  if (checked?.version !== typeVersion(type)) throw new TypeChangedError(type.id);
  if (checked.problems.length) throw new ValidationError(checked.problems);
}

/** Creates whose parameters a write will validate (`index` into the inputs). */
export interface ParametersToCheck {
  index: number;
  type: TaskType;
  parameters: JsonObject;
}

/** What parametersToCheck needs to know of the database, as things stand. */
export interface CreateLookups {
  type(id: number): TaskType | undefined;
  /** Whether a task of the type already has this idempotency key. */
  keyTaken(typeId: number, key: string): boolean;
}

/**
 * Outside any transaction, before the write: which of `inputs` the write will need validated
 * parameters for, as things stand. Not those that an earlier task with the same idempotency key
 * answers (in the database, or earlier in `inputs`), nor those whose type accepts anything;
 * none from the first create that will fail (its type missing or inactive) on.
 */
export function parametersToCheck(inputs: TaskCreate[], lookups: CreateLookups): ParametersToCheck[] {
  const keys = new Set<string>();
  const found: ParametersToCheck[] = [];
  for (const [index, input] of inputs.entries()) {
    const type = lookups.type(input.task_type_id);
    if (!type) break;
    if (input.idempotency_key !== undefined) {
      const key = `${input.task_type_id}\0${input.idempotency_key}`;
      if (keys.has(key) || lookups.keyTaken(input.task_type_id, input.idempotency_key)) continue;
      keys.add(key);
    }
    if (!type.is_active) break;
    if (!acceptsAnything(type.parameters_schema)) found.push({ index, type, parameters: input.parameters ?? {} });
  }
  return found;
}

/** The columns of a task that a create inserts: its defaults applied, its status pending by default. */
export type NewTaskValues = Omit<ReturnType<typeof newTask>, 'status'>;

/**
 * Inside the write, what one create does, given its type and the task that already has its
 * idempotency key, if one does: the type must exist (NotFoundError); a repeated create returns
 * the first task, even if its type has been deactivated since; the type must be active
 * (InvalidStateError) and the parameters checked against its current version.
 */
export function admitCreate(
  input: TaskCreate,
  type: TaskType | undefined,
  existing: Task | undefined,
  checked: CheckedParameters | undefined,
  now: string,
): { existing: Task } | { values: NewTaskValues } {
  if (!type) throw taskTypeNotFound(input.task_type_id);
  if (existing) return { existing };
  if (!type.is_active) throw new InvalidStateError(`Task type ${input.task_type_id} is not active`);
  requireChecked(type, checked);
  const { status: _pending, ...values } = newTask(input, type, now);
  return { values };
}

/**
 * Runs `each` over a batch's inputs, all or nothing: the problems of every input that breaks a
 * rule (ValidationError, located under its place in the batch) are thrown together.
 */
export function collectProblems<T, R>(inputs: readonly T[], each: (input: T, index: number) => R): R[] {
  const problems: Problem[] = [];
  const results: R[] = [];
  inputs.forEach((input, index) => {
    try {
      results.push(each(input, index));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.push(...error.problems);
    }
  });
  if (problems.length) throw new ValidationError(problems);
  return results;
}

/** The validation around writes that a store does: a ParameterValidator and the retry on a type changing. */
export class WriteValidation {
  constructor(readonly validator: ParameterValidator) {}

  /** Runs a validated write, validating again when its type changed meanwhile (TypeChangedError). */
  async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    for (let attempts = 1; ; attempts++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof TypeChangedError) || attempts >= VALIDATION_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Validates the parameters of the creates that need it, in one call to the pool: by index into
   * the inputs, their problems under `parameters` (one create) or `tasks.<index>.parameters`.
   */
  async checkCreates(pending: ParametersToCheck[], batch: boolean): Promise<Map<number, CheckedParameters>> {
    if (pending.length === 0) return new Map();
    const items = pending.map(({ index, type, parameters }) => ({ type, parameters, prefix: batch ? ['tasks', index, 'parameters'] : ['parameters'] }));
    const problems = await this.validator.problems(items, batch ? ['tasks'] : ['parameters']);
    return new Map(pending.map(({ index, type }, i) => [index, { version: typeVersion(type), problems: problems[i]! }]));
  }

  /** Validates an update's new parameters, if any, against the task's type (undefined: no such task). */
  async checkUpdate(type: TaskType | undefined, parameters: JsonObject | undefined): Promise<CheckedParameters | undefined> {
    if (parameters === undefined || !type) return undefined; // without a task, the write answers NotFoundError
    const [problems] = await this.validator.problems([{ type, parameters, prefix: ['parameters'] }], ['parameters']);
    return { version: typeVersion(type), problems: problems! };
  }

  /** Checks a new `parameters_schema`, if any, off the main thread. */
  async checkSchema(schema: JsonObject | undefined): Promise<void> {
    if (schema === undefined) return;
    const problems = await this.validator.checkSchema(schema);
    if (problems.length) throw new ValidationError(problems);
  }

  close(): Promise<void> {
    return this.validator.close();
  }
}
