import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from './openapi.js';

// As the server sends it (apps/server's service.test.ts checks that it serves this very document).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an OpenAPI document is inspected as plain JSON
const doc: any = JSON.parse(JSON.stringify(buildOpenApiDocument()));

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3 document', async () => {
    expect(doc.openapi).toMatch(/^3\./);
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy();
  });

  it('lists the ten documented operations with their success statuses', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item as object).map(([method, op]) => [`${method.toUpperCase()} /api${path}`, Object.keys(op.responses).find((c) => c < '300')]),
    );
    expect(Object.fromEntries(operations)).toMatchObject({
      'POST /api/task-types': '201',
      'GET /api/task-types': '200',
      'GET /api/task-types/{task_type_id}': '200',
      'PUT /api/task-types/{task_type_id}': '200',
      'DELETE /api/task-types/{task_type_id}': '204',
      'POST /api/tasks': '201',
      'GET /api/tasks': '200',
      'GET /api/tasks/{task_id}': '200',
      'PUT /api/tasks/{task_id}': '200',
      'DELETE /api/tasks/{task_id}': '204',
    });
    expect(doc.servers).toEqual([{ url: '/api' }]);
  });

  it('documents path and query parameters', () => {
    const names = (op: { parameters?: { name: string; in: string }[] }) => (op.parameters ?? []).map((p) => `${p.in}:${p.name}`);
    expect(names(doc.paths['/tasks'].get)).toEqual(
      [
        'task_type_id', 'task_type', 'status', 'priority_min', 'priority_max', 'created_after', 'created_before', 'updated_after',
        'updated_before', 'finished_after', 'finished_before', 'run_at_after', 'run_at_before', 'worker_id', 'idempotency_key',
        'metadata_key', 'metadata_value', 'q', 'sort', 'cursor', 'limit',
      ].map((name) => `query:${name}`),
    );
    const parameter = (name: string) => doc.paths['/tasks'].get.parameters.find((p: { name: string }) => p.name === name);
    // Several statuses: the parameter repeated (form style, exploded: OpenAPI's default for a query array).
    expect(parameter('status').schema).toMatchObject({ type: 'array', items: { enum: ['pending', 'running', 'completed', 'failed', 'cancelled'] } });
    expect(parameter('sort').schema).toMatchObject({ enum: ['newest', 'oldest', 'priority', 'run_at'], default: 'newest' });
    expect(names(doc.paths['/task-types'].get)).toEqual(['query:include_inactive']);
    // A get may wait for the task to finish.
    expect(names(doc.paths['/tasks/{task_id}'].get)).toEqual(['path:task_id', 'query:wait_seconds']);
    for (const method of ['get', 'put', 'delete']) {
      if (method !== 'get') expect(names(doc.paths['/tasks/{task_id}'][method])).toEqual(['path:task_id']);
      expect(names(doc.paths['/task-types/{task_type_id}'][method])).toEqual(['path:task_type_id']);
    }
    const limit = doc.paths['/tasks'].get.parameters.find((p: { name: string }) => p.name === 'limit');
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000, default: 100 });
  });

  it('documents request bodies with their fields and constraints', () => {
    const body = (path: string, method: string) => doc.paths[path][method].requestBody.content['application/json'].schema;
    const taskCreate = body('/tasks', 'post');
    expect(Object.keys(taskCreate.properties)).toEqual(expect.arrayContaining(['task_type_id', 'parameters', 'priority', 'metadata']));
    expect(taskCreate.required).toEqual(['task_type_id']);
    expect(taskCreate.properties.priority).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000 });

    expect(Object.keys(body('/task-types', 'post').properties)).toEqual(
      expect.arrayContaining(['name', 'description', 'parameters_schema', 'metadata']),
    );
    expect(body('/task-types', 'post').required).toEqual(['name']);
    expect(Object.keys(body('/task-types/{task_type_id}', 'put').properties)).toEqual(
      expect.arrayContaining(['description', 'parameters_schema', 'metadata', 'is_active']),
    );
    const taskUpdate = body('/tasks/{task_id}', 'put');
    expect(Object.keys(taskUpdate.properties)).toEqual(
      expect.arrayContaining(['status', 'priority', 'parameters', 'metadata', 'result', 'error_message']),
    );
    expect(taskUpdate.required ?? []).toEqual([]);
  });

  it('documents responses: the resources and the {"detail"} error body', () => {
    expect(doc.paths['/tasks'].post.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Task' });
    expect(doc.paths['/task-types'].post.responses['409'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    expect(doc.paths['/tasks/{task_id}'].delete.responses['204'].content).toBeUndefined();
    expect(doc.components.schemas.Error.required).toEqual(['detail']);
    expect(Object.keys(doc.components.schemas.Task.properties)).toEqual(expect.arrayContaining([
      'id',
      'task_type_id',
      'status',
      'parameters',
      'priority',
      'metadata',
      'result',
      'error_message',
      'created_at',
      'updated_at',
      'started_at',
      'completed_at',
    ]));
  });
});

describe('the OpenAPI document: the queue', () => {
  it('documents the queue operations with their bodies and statuses', () => {
    const success = (path: string) => Object.keys(doc.paths[path].post.responses).find((c) => c < '300');
    expect(success('/tasks/batch')).toBe('201');
    for (const path of ['/tasks/claim', '/tasks/{task_id}/heartbeat', '/tasks/{task_id}/complete', '/tasks/{task_id}/fail']) {
      expect(success(path), path).toBe('200');
    }
    for (const path of ['/tasks/{task_id}/cancel', '/tasks/{task_id}/retry']) {
      expect(success(path), path).toBe('200');
      expect(doc.paths[path].post.responses['409']).toBeDefined();
    }
    const claim = doc.paths['/tasks/claim'].post.requestBody.content['application/json'].schema;
    expect(claim.required).toEqual(['worker_id']);
    expect(claim.properties.wait_seconds).toMatchObject({ minimum: 0, maximum: 30, default: 0 });
    expect(claim.properties.limit).toMatchObject({ minimum: 1, maximum: 100, default: 1 });
    const fail = doc.paths['/tasks/{task_id}/fail'].post;
    expect(fail.parameters.map((p: { name: string }) => p.name)).toEqual(['task_id']);
    expect(fail.requestBody.content['application/json'].schema.required).toEqual(['worker_id', 'lease_id', 'error_message']);
    expect(Object.keys(doc.components.schemas.Task.properties)).toEqual(
      expect.arrayContaining(['attempts', 'max_attempts', 'run_at', 'worker_id', 'lease_id', 'lease_expires_at', 'idempotency_key']),
    );
  });
});

describe('the OpenAPI document: bulk actions', () => {
  it('documents retry, cancel and delete by ids or a filter, answering how many changed', () => {
    for (const action of ['retry', 'cancel', 'delete']) {
      const op = doc.paths[`/tasks/bulk/${action}`].post;
      expect(Object.keys(op.responses).find((c) => c < '300')).toBe('200');
      const body = op.requestBody.content['application/json'].schema;
      expect(Object.keys(body.properties)).toEqual(['ids', 'filter', 'limit']);
      expect(body.properties.limit).toMatchObject({ minimum: 1, maximum: 1000, default: 1000 });
      expect(body.properties.filter.additionalProperties).toBe(false);
      expect(op.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/BulkResult' });
    }
    expect(doc.components.schemas.BulkResult.required).toEqual(['changed', 'more']);
  });
});

describe('the OpenAPI document: authentication', () => {
  it('documents bearer tokens and the 401 and 403 answers', () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [path, method] of [['/tasks', 'post'], ['/task-types/{task_type_id}', 'delete'], ['/tasks/claim', 'post']] as const) {
      const op = doc.paths[path][method];
      expect(op.security).toEqual([{ bearerAuth: [] }, {}]);
      expect(op.responses['401'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
      expect(op.responses['403']).toBeDefined();
    }
  });
});

describe('the OpenAPI document: progress and history', () => {
  it('documents the progress a heartbeat may carry, with its bounds', () => {
    const heartbeat = doc.paths['/tasks/{task_id}/heartbeat'].post.requestBody.content['application/json'].schema;
    expect(heartbeat.properties.progress).toMatchObject({ type: 'number', minimum: 0, maximum: 100, description: expect.any(String) });
    expect(heartbeat.properties.message).toMatchObject({ type: 'string', maxLength: 1000, description: expect.any(String) });
    expect(heartbeat.required).toEqual(['worker_id', 'lease_id']);
  });

  it('documents GET /api/tasks/{task_id}/attempts: a list of TaskAttempt, 404 for an unknown task', () => {
    const op = doc.paths['/tasks/{task_id}/attempts'].get;
    expect(op.parameters.map((p: { in: string; name: string }) => `${p.in}:${p.name}`)).toEqual(['path:task_id']);
    expect(op.responses['200'].content['application/json'].schema).toEqual({ type: 'array', items: { $ref: '#/components/schemas/TaskAttempt' } });
    expect(op.responses['404'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    const attempt = doc.components.schemas.TaskAttempt;
    expect(Object.keys(attempt.properties)).toEqual([
      'task_id', 'attempt', 'worker_id', 'lease_id', 'claimed_at', 'heartbeats', 'progress', 'progress_message', 'finished_at', 'outcome', 'error_message',
    ]);
    expect(attempt.required).toEqual(Object.keys(attempt.properties));
    expect(doc.components.schemas.AttemptOutcome.enum).toEqual(['completed', 'failed', 'lease_expired', 'cancelled']);
  });
});
