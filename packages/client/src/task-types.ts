/**
 * Task types defined once, in code: a name and a zod schema for the parameters (and, if you like,
 * for the result). From that one definition come the JSON Schema the server registers (zod's own
 * JSON Schema output), so producers in other languages are held to the same rules; producers whose
 * `create` takes exactly those parameters; and workers whose handlers receive them parsed and must
 * return the result.
 *
 * ```ts
 * import { z } from 'zod';
 * import { createPrismqClient, createTaskClient, defineTaskType } from '@prismq/client';
 *
 * export const sendEmail = defineTaskType('send_email', {
 *   parameters: z.object({ to: z.email(), subject: z.string().max(200) }),
 *   result: z.object({ messageId: z.string() }),
 * });
 *
 * const tasks = createTaskClient(createPrismqClient({ url }), [sendEmail]);
 * await tasks.register(); // at start-up: idempotent
 * const task = await tasks.create('send_email', { to: 'ada@example.com', subject: 'Hi' }, { priority: 10 });
 * const done = await tasks.waitForResult('send_email', task); // done.result: { messageId: string } | null
 * ```
 *
 * Any schema of the Standard Schema and Standard JSON Schema interfaces works (zod 4 implements
 * both); this module imports no schema library itself.
 */
import { NotFoundError } from './errors.js';
import type { PrismqClient, RouterInputs, Task, TaskType, WaitForResultOptions } from './index.js';
import { waitForResult } from './wait.js';

/** A validation problem, as a Standard Schema reports it. */
export interface SchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

type SchemaResult<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: ReadonlyArray<SchemaIssue> };

/**
 * A schema as this module uses it: Standard Schema (validate, and the input and output types) with
 * Standard JSON Schema (its JSON Schema). A zod 4 schema is one.
 */
export interface Schema<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => SchemaResult<Output> | Promise<SchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
    readonly jsonSchema?: { readonly input: (options: { readonly target: 'draft-07' }) => Record<string, unknown> };
  };
}

/** What a schema accepts: for a zod schema, `z.input<typeof schema>`. */
export type SchemaInput<S> = S extends Schema ? NonNullable<S['~standard']['types']>['input'] : unknown;
/** What a schema gives once it has parsed a value: for a zod schema, `z.output<typeof schema>`. */
export type SchemaOutput<S> = S extends Schema ? NonNullable<S['~standard']['types']>['output'] : unknown;

/** The retry policy and description a definition may set on its type (as `taskTypes.create` takes them). */
type TypeSettings = Pick<RouterInputs['taskTypes']['create'], 'description' | 'metadata' | 'max_attempts' | 'retry_base_seconds' | 'retry_max_seconds'>;

export interface TaskTypeOptions<P extends Schema, R extends Schema | undefined> extends TypeSettings {
  /** The parameters of its tasks: an object schema. Registered as the type's `parameters_schema`. */
  parameters: P;
  /** What its handlers return, checked by the worker before it completes a task. Default: anything. */
  result?: R;
}

/** A task type as code defines it: see defineTaskType. */
export interface TaskTypeDefinition<Name extends string = string, P extends Schema = Schema, R extends Schema | undefined = Schema | undefined> {
  readonly name: Name;
  readonly parameters: P;
  readonly result: R;
  /** The JSON Schema (draft-07) of the parameters, as registered on the server. */
  readonly parametersSchema: Record<string, unknown>;
  /** What registration sets on the type besides its schema. */
  readonly settings: TypeSettings;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any definition, whatever its schemas
export type AnyTaskTypeDefinition = TaskTypeDefinition<string, any, any>;

/** The parameters a producer sends for a definition's tasks (the schema's input). */
export type ParametersOf<D extends AnyTaskTypeDefinition> = SchemaInput<D['parameters']>;
/** The parameters a handler receives (the schema's output, once the worker has parsed them). */
export type ParsedParametersOf<D extends AnyTaskTypeDefinition> = SchemaOutput<D['parameters']>;
/** What a handler must return: the result schema's input, or anything JSON without one. */
export type HandlerResultOf<D extends AnyTaskTypeDefinition> = D['result'] extends Schema ? SchemaInput<D['result']> : unknown;
/** A completed task's result, as stored: the result schema's output. */
export type ResultOf<D extends AnyTaskTypeDefinition> = D['result'] extends Schema ? SchemaOutput<D['result']> : unknown;

/**
 * Defines a task type: its name, its parameters' schema and optionally its result's, its
 * description, metadata and retry policy. Throws at once when the parameters schema cannot be
 * written as JSON Schema (a `z.date()`, a `z.custom()`), or is not an object schema.
 */
export function defineTaskType<const Name extends string, P extends Schema, R extends Schema | undefined = undefined>(
  name: Name,
  options: TaskTypeOptions<P, R>,
): TaskTypeDefinition<Name, P, R> {
  const { parameters, result, ...settings } = options;
  const convert = parameters['~standard'].jsonSchema?.input;
  if (!convert) throw new TypeError(`task type '${name}': its parameters schema has no JSON Schema form (use a zod 4 schema, or another Standard JSON Schema)`);
  let parametersSchema: Record<string, unknown>;
  try {
    // Draft-07, which the server's validator speaks; the input side, which producers send.
    parametersSchema = convert({ target: 'draft-07' });
  } catch (error) {
    throw new TypeError(`task type '${name}': its parameters schema cannot be written as JSON Schema: ${(error as Error).message}`, { cause: error });
  }
  if (parametersSchema.type !== 'object') throw new TypeError(`task type '${name}': parameters must be an object schema (z.object), not ${JSON.stringify(parametersSchema.type ?? 'any')}`);
  return Object.freeze({ name, parameters, result: result as R, parametersSchema, settings });
}

/** Parses a value with a schema: its output, or a list of problems (`path: message`). */
export async function parseWith<S extends Schema>(schema: S, value: unknown): Promise<{ ok: true; value: SchemaOutput<S> } | { ok: false; problems: string[] }> {
  const parsed = await schema['~standard'].validate(value);
  if (!parsed.issues) return { ok: true, value: parsed.value as SchemaOutput<S> };
  return {
    ok: false,
    problems: parsed.issues.map((issue) => {
      const path = (issue.path ?? []).map((step) => String(typeof step === 'object' ? step.key : step)).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Registration

/**
 * The server holds a task type of this name whose parameters schema differs from the definition's.
 * Registration replaces it only when asked to (`replaceSchema: true`), in the service that owns the type.
 */
export class TaskTypeSchemaMismatchError extends Error {
  constructor(
    readonly taskType: string,
    /** The schema on the server. */
    readonly registered: Record<string, unknown>,
    /** The definition's schema. */
    readonly defined: Record<string, unknown>,
    /** Where they differ, as JSON paths (the first few). */
    readonly differences: string[],
  ) {
    super(
      `task type '${taskType}' is registered on the server with a different parameters schema (differs at ${differences.join(', ')}). ` +
        `Register with { replaceSchema: true } from the service that owns the type to replace it, or bring this definition in line.`,
    );
    this.name = 'TaskTypeSchemaMismatchError';
  }
}

export interface RegisterOptions {
  /**
   * Replace a different parameters schema on the server with the definition's (default false:
   * throw TaskTypeSchemaMismatchError). Set it in the one service that owns the type.
   */
  replaceSchema?: boolean;
}

export interface Registration {
  name: string;
  /** `created`: the type was new; `updated`: its schema or settings were brought in line; `unchanged`: it matched, nothing was written. */
  outcome: 'created' | 'updated' | 'unchanged';
  taskType: TaskType;
}

/**
 * Registers task types at start-up, idempotently: a type that matches its definition is left as it
 * is (nothing is written, so a token that may only read will do); a new one is created; one whose
 * description, metadata or retry policy differ is updated (admin scope). One whose parameters
 * schema differs is refused with TaskTypeSchemaMismatchError unless `replaceSchema` is set.
 * Types are registered one after another, in order.
 */
export async function registerTaskTypes(client: PrismqClient, definitions: readonly AnyTaskTypeDefinition[], options: RegisterOptions = {}): Promise<Registration[]> {
  const registrations: Registration[] = [];
  for (const definition of definitions) {
    const { name, parametersSchema, settings } = definition;
    const current = await client.taskTypes.getByName.query({ name }).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    if (current) {
      const differences = jsonDifferences(current.parameters_schema, parametersSchema);
      if (differences.length > 0 && !options.replaceSchema) throw new TaskTypeSchemaMismatchError(name, current.parameters_schema, parametersSchema, differences);
      const settingsDiffer = Object.entries(settings).some(([key, value]) => value !== undefined && jsonDifferences(current[key as keyof TaskType], value).length > 0);
      if (differences.length === 0 && !settingsDiffer) {
        registrations.push({ name, outcome: 'unchanged', taskType: current });
        continue;
      }
    }
    const taskType = await client.taskTypes.declare.mutate({ name, ...settings, parameters_schema: parametersSchema });
    registrations.push({ name, outcome: current ? 'updated' : 'created', taskType });
  }
  return registrations;
}

const MAX_DIFFERENCES = 5;

/** Where two JSON values differ, as paths (`$`, `$.properties.to`), the first few; object key order does not count. */
export function jsonDifferences(a: unknown, b: unknown, path = '$', found: string[] = []): string[] {
  if (found.length >= MAX_DIFFERENCES) return found;
  if (Object.is(a, b)) return found;
  const bothObjects = typeof a === 'object' && typeof b === 'object' && a !== null && b !== null && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) {
    found.push(path);
    return found;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) found.push(path);
    else a.forEach((item, i) => jsonDifferences(item, b[i], `${path}[${i}]`, found));
    return found;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
    if (!(key in left) || !(key in right)) {
      if (found.length < MAX_DIFFERENCES) found.push(`${path}.${key}`);
    } else jsonDifferences(left[key], right[key], `${path}.${key}`, found);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Typed producers

/** A task whose parameters and result are typed by its task type. */
export type TypedTask<Parameters, Result> = Omit<Task, 'parameters' | 'result'> & { parameters: Parameters; result: Result | null };

/** What `create` takes besides the parameters (as `tasks.create` does). */
export type CreateOptions = Omit<RouterInputs['tasks']['create'], 'task_type_id' | 'parameters'>;

/** The parameters each task type takes, by name: what TaskClient is typed by. */
type TypeMap = Record<string, unknown>;

/** A type's result in a map of results by name: unknown for a name the map does not have. */
type ResultFor<Results, Name> = Name extends keyof Results ? Results[Name] : unknown;

export interface TaskClient<Parameters extends TypeMap, Results = Record<never, never>> {
  /** The untyped client underneath. */
  readonly client: PrismqClient;
  /** Creates a task of the named type with exactly its parameters. */
  create<Name extends keyof Parameters & string>(name: Name, parameters: Parameters[Name], options?: CreateOptions): Promise<TypedTask<Parameters[Name], ResultFor<Results, Name>>>;
  /** Creates up to 1000 tasks of the named type in one transaction (all or none), in order. */
  createMany<Name extends keyof Parameters & string>(
    name: Name,
    tasks: ReadonlyArray<CreateOptions & { parameters: Parameters[Name] }>,
  ): Promise<TypedTask<Parameters[Name], ResultFor<Results, Name>>[]>;
  /** Reads a task of the named type; NotFoundError when there is none, or it is of another type. */
  get<Name extends keyof Parameters & string>(name: Name, taskId: number): Promise<TypedTask<Parameters[Name], ResultFor<Results, Name>>>;
  /** Waits until the task of the named type is finished (see waitForResult) and returns it, typed. */
  waitForResult<Name extends keyof Parameters & string>(name: Name, task: number | { id: number }, options?: WaitForResultOptions): Promise<TypedTask<Parameters[Name], ResultFor<Results, Name>>>;
  /** The id of the named type on the server (looked up once). */
  typeId(name: keyof Parameters & string): Promise<number>;
}

export interface DefinedTaskClient<Defs extends readonly AnyTaskTypeDefinition[]>
  extends TaskClient<{ [D in Defs[number] as D['name']]: ParametersOf<D> }, { [D in Defs[number] as D['name']]: ResultOf<D> }> {
  readonly definitions: Defs;
  /** Registers the definitions' types (see registerTaskTypes), and keeps their ids. */
  register(options?: RegisterOptions): Promise<Registration[]>;
}

/**
 * A producer typed by task type names: `create('send_email', parameters)` takes exactly that
 * type's parameters. Typed from definitions (defineTaskType), or from a map of names to parameter
 * types, such as `prismq types codegen` writes for types defined elsewhere:
 * `createTaskClient<TaskTypes>(client)`.
 */
export function createTaskClient<const Defs extends readonly AnyTaskTypeDefinition[]>(client: PrismqClient, definitions: Defs): DefinedTaskClient<Defs>;
export function createTaskClient<Parameters extends TypeMap>(client: PrismqClient): TaskClient<Parameters>;
export function createTaskClient(client: PrismqClient, definitions: readonly AnyTaskTypeDefinition[] = []): DefinedTaskClient<readonly AnyTaskTypeDefinition[]> {
  const ids = new Map<string, Promise<number>>();
  const typeId = (name: string): Promise<number> => {
    let id = ids.get(name);
    if (!id) {
      id = client.taskTypes.getByName.query({ name }).then((type) => type.id);
      ids.set(name, id);
      id.catch(() => ids.delete(name)); // asked again next time
    }
    return id;
  };
  type Typed = TypedTask<object, unknown>;
  const checkType = async (name: string, task: Task): Promise<Typed> => {
    if (task.task_type_id !== (await typeId(name))) throw new NotFoundError({ status: 404, detail: `Task ${task.id} is not a task of type '${name}'` });
    return task as Typed;
  };
  return {
    client,
    definitions,
    async register(options) {
      const registrations = await registerTaskTypes(client, definitions, options);
      for (const { name, taskType } of registrations) ids.set(name, Promise.resolve(taskType.id));
      return registrations;
    },
    typeId,
    async create(name, parameters, options = {}) {
      const task_type_id = await typeId(name);
      return (await client.tasks.create.mutate({ ...options, task_type_id, parameters: parameters as Record<string, unknown> })) as Typed;
    },
    async createMany(name, tasks) {
      const task_type_id = await typeId(name);
      const created = await client.tasks.createBatch.mutate({ tasks: tasks.map((task) => ({ ...task, task_type_id, parameters: task.parameters as Record<string, unknown> })) });
      return created as Typed[];
    },
    async get(name, taskId) {
      return checkType(name, await client.tasks.get.query({ task_id: taskId }));
    },
    async waitForResult(name, task, options) {
      return checkType(name, await waitForResult(client, typeof task === 'number' ? task : task.id, options));
    },
  } as DefinedTaskClient<readonly AnyTaskTypeDefinition[]>;
}
