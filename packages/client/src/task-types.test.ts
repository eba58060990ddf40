/**
 * Task types defined once with zod: registered from the definition (idempotently, refusing to
 * replace a different schema unless told to), produced with exactly their parameters, and worked
 * by handlers that receive them parsed and must return the result, against a real server.
 */
import { startTestServer } from '@prismq/server/testing';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createPrismqClient,
  createTaskClient,
  defineTaskType,
  ForbiddenError,
  NotFoundError,
  TaskTypeSchemaMismatchError,
  ValidationError,
} from './index.js';
import { createWorker } from './worker.js';
import { useServerAndWorkers } from './client-testing.js';

const ctx = useServerAndWorkers();
const { workers } = ctx;

const resize = defineTaskType('resize_image', {
  parameters: z.object({ url: z.url(), width: z.int().min(1).max(10_000), format: z.enum(['png', 'webp']).default('webp') }),
  result: z.object({ bytes: z.int() }),
  description: 'Resizes one image',
  max_attempts: 3,
});

describe('defineTaskType', () => {
  it('writes the parameters schema as draft-07 JSON Schema, as producers send them', () => {
    expect(resize.parametersSchema).toMatchObject({
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { url: { type: 'string', format: 'uri' }, width: { type: 'integer', minimum: 1, maximum: 10_000 }, format: { enum: ['png', 'webp'], default: 'webp' } },
      // `format` has a default: a producer may leave it out.
      required: ['url', 'width'],
    });
  });

  it('refuses, at once, a schema that is not an object or has no JSON Schema form', () => {
    expect(() => defineTaskType('bad', { parameters: z.string() })).toThrow(/parameters must be an object schema/);
    expect(() => defineTaskType('bad', { parameters: z.object({ when: z.date() }) })).toThrow(/task type 'bad': its parameters schema cannot be written as JSON Schema/);
  });
});

describe('registering definitions', () => {
  it('creates a new type, leaves a matching one alone, and brings changed settings in line', async () => {
    const tasks = createTaskClient(ctx.client, [resize]);
    const [created] = await tasks.register();
    expect(created).toMatchObject({ name: 'resize_image', outcome: 'created', taskType: { description: 'Resizes one image', max_attempts: 3 } });
    expect(created!.taskType.parameters_schema).toEqual(resize.parametersSchema);

    const [again] = await tasks.register();
    expect(again!.outcome).toBe('unchanged');
    expect(again!.taskType.updated_at).toBeNull(); // nothing was written

    const reworded = defineTaskType('resize_image', { parameters: resize.parameters, description: 'Resizes an image' });
    const [updated] = await createTaskClient(ctx.client, [reworded]).register();
    expect(updated).toMatchObject({ outcome: 'updated', taskType: { description: 'Resizes an image', max_attempts: 3 } });
  });

  it('refuses to replace a different schema, naming where it differs, unless replaceSchema is set', async () => {
    const v1 = defineTaskType('ocr', { parameters: z.object({ url: z.string() }) });
    const v2 = defineTaskType('ocr', { parameters: z.object({ url: z.string(), language: z.string() }) });
    await createTaskClient(ctx.client, [v1]).register();

    const refused = await createTaskClient(ctx.client, [v2])
      .register()
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TaskTypeSchemaMismatchError);
    expect(refused).toMatchObject({ taskType: 'ocr', differences: ['$.properties.language', '$.required'] });
    expect((refused as Error).message).toMatch(/task type 'ocr' is registered on the server with a different parameters schema .*replaceSchema: true/);
    expect((await ctx.client.taskTypes.getByName.query({ name: 'ocr' })).parameters_schema).toEqual(v1.parametersSchema);

    const [replaced] = await createTaskClient(ctx.client, [v2]).register({ replaceSchema: true });
    expect(replaced!.outcome).toBe('updated');
    expect((await ctx.client.taskTypes.getByName.query({ name: 'ocr' })).parameters_schema).toEqual(v2.parametersSchema);
  });

  it('needs only a read token when the server already matches; writing needs admin', async () => {
    const guarded = await startTestServer({ auth: 'on' });
    try {
      const admin = createPrismqClient({ url: guarded.url, token: (await guarded.store.createToken('admin', ['admin'])).token });
      const producer = createPrismqClient({ url: guarded.url, token: (await guarded.store.createToken('producer', ['producer', 'read'])).token });
      await expect(createTaskClient(producer, [resize]).register()).rejects.toBeInstanceOf(ForbiddenError);
      await createTaskClient(admin, [resize]).register();
      const [registration] = await createTaskClient(producer, [resize]).register();
      expect(registration!.outcome).toBe('unchanged');
    } finally {
      await guarded.close();
    }
  });
});

describe('typed producers and workers', () => {
  it('creates tasks with exactly their parameters, and reads them back typed', async () => {
    const tasks = createTaskClient(ctx.client, [resize]);
    await tasks.register();
    const task = await tasks.create('resize_image', { url: 'https://example.com/a.png', width: 640 }, { priority: 3, metadata: { album: 'x' } });
    expect(task).toMatchObject({ priority: 3, status: 'pending', parameters: { url: 'https://example.com/a.png', width: 640 } });
    expectTypeOf(task.parameters.width).toEqualTypeOf<number>();
    expectTypeOf(task.result).toEqualTypeOf<{ bytes: number } | null>();

    const many = await tasks.createMany('resize_image', [{ parameters: { url: 'https://example.com/b.png', width: 1 } }, { parameters: { url: 'https://example.com/c.png', width: 2, format: 'png' }, priority: 1 }]);
    expect(many.map((t) => t.parameters.width)).toEqual([1, 2]);

    expect((await tasks.get('resize_image', task.id)).id).toBe(task.id);
    const other = await ctx.client.taskTypes.create.mutate({ name: 'not_an_image' });
    const elsewhere = await ctx.client.tasks.create.mutate({ task_type_id: other.id });
    await expect(tasks.get('resize_image', elsewhere.id)).rejects.toBeInstanceOf(NotFoundError);

    // The server checks the same rules, from the registered JSON Schema.
    const invalid = await tasks.create('resize_image', { url: 'not a url', width: 0 }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ValidationError);
    expect(new Set((invalid as ValidationError).problems.map((p) => p.loc.join('.')))).toEqual(new Set(['input.parameters.url', 'input.parameters.width']));

    // Only in the type checker (tsc runs on this file): never called.
    void (() => {
      // @ts-expect-error width must be a number
      void tasks.create('resize_image', { url: 'https://example.com', width: '640' });
      // @ts-expect-error url is required
      void tasks.create('resize_image', { width: 640 });
      // @ts-expect-error no task type of that name is defined
      void tasks.create('resize_video', { url: 'https://example.com', width: 640 });
    });
  });

  it('runs handlers with parsed parameters, completes with the checked result, and waits for it typed', async () => {
    const tasks = createTaskClient(ctx.client, [resize]);
    await tasks.register();
    const seen = new Map<number, unknown>();
    workers.push(
      createWorker({
        url: ctx.server.url,
        taskTypes: [resize],
        handleSignals: false,
        logLevel: 'silent',
        waitSeconds: 1,
        handlers: {
          resize_image: async (task) => {
            seen.set(task.id, task.parameters);
            expectTypeOf(task.parameters.format).toEqualTypeOf<'png' | 'webp'>();
            return { bytes: task.parameters.width * 10 };
          },
        },
      }),
    );
    const task = await tasks.create('resize_image', { url: 'https://example.com/d.png', width: 64 });
    const done = await tasks.waitForResult('resize_image', task, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ status: 'completed', result: { bytes: 640 } });
    expectTypeOf(done.result).toEqualTypeOf<{ bytes: number } | null>();
    // The default the producer left out, filled in by the definition's schema.
    expect(seen.get(task.id)).toEqual({ url: 'https://example.com/d.png', width: 64, format: 'webp' });

    void (() =>
      createWorker({
        url: ctx.server.url,
        taskTypes: [resize],
        handlers: {
          // @ts-expect-error the result must be { bytes: number }
          resize_image: async () => ({ bytes: 'many' }),
        },
      }));
  });

  it('fails an attempt for good, without a retry, when the parameters break the definition or the result breaks its schema', async () => {
    // A refinement has no JSON Schema form: the server lets it through, the worker's parse does not.
    const even = defineTaskType('even_only', { parameters: z.object({ n: z.int().refine((n) => n % 2 === 0, 'must be even') }), max_attempts: 3 });
    const liar = defineTaskType('liar', { parameters: z.object({}), result: z.object({ ok: z.literal(true) }), max_attempts: 3 });
    const tasks = createTaskClient(ctx.client, [even, liar]);
    await tasks.register();
    workers.push(
      createWorker({
        url: ctx.server.url,
        taskTypes: [even, liar],
        handleSignals: false,
        logLevel: 'silent',
        waitSeconds: 1,
        handlers: {
          even_only: () => null,
          // What a handler typed loosely elsewhere might return.
          liar: () => ({ ok: false }) as unknown as { ok: true },
        },
      }),
    );
    const odd = await tasks.create('even_only', { n: 3 });
    const lie = await tasks.create('liar', {});
    const oddDone = await tasks.waitForResult('even_only', odd, { timeoutMs: 20_000 });
    expect(oddDone).toMatchObject({ status: 'failed', attempts: 1 });
    expect(oddDone.error_message).toBe("parameters do not match the task type's schema: n: must be even");
    const lieDone = await tasks.waitForResult('liar', lie, { timeoutMs: 20_000 });
    expect(lieDone).toMatchObject({ status: 'failed', attempts: 1 });
    expect(lieDone.error_message).toMatch(/^the handler's result does not match the task type's result schema: ok: /);
  });
});

describe('a producer typed by a map of names to parameters (as `prismq types codegen` writes)', () => {
  it('creates tasks with exactly those parameters', async () => {
    type TaskTypes = { ping: { host: string } };
    await ctx.client.taskTypes.declare.mutate({ name: 'ping', parameters_schema: { type: 'object', properties: { host: { type: 'string' } }, required: ['host'] } });
    const tasks = createTaskClient<TaskTypes>(ctx.client);
    const task = await tasks.create('ping', { host: 'example.com' });
    expectTypeOf(task.parameters).toEqualTypeOf<{ host: string }>();
    expect(task.parameters).toEqual({ host: 'example.com' });
    // @ts-expect-error host must be a string
    void (() => tasks.create('ping', { host: 1 }));
  });
});
