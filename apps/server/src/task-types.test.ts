import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

describe('POST /api/task-types', () => {
  it('creates a task type with 201 and the documented fields', async () => {
    const schema = {
      type: 'object',
      properties: { format: { type: 'string', enum: ['mp4', 'webm'] } },
      required: ['format'],
    };
    const res = await server.request('POST', '/api/task-types', {
      name: 'video_processing',
      description: 'Process video files',
      parameters_schema: schema,
      metadata: { category: 'media' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(Number),
      name: 'video_processing',
      description: 'Process video files',
      parameters_schema: schema,
      metadata: { category: 'media' },
      is_active: true,
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: null,
    });
  });

  it('answers 409 when the name exists', async () => {
    await server.request('POST', '/api/task-types', { name: 'dupe' });
    const res = await server.request('POST', '/api/task-types', { name: 'dupe' });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ detail: "Task type 'dupe' already exists" });
  });

  it('ignores unknown fields', async () => {
    const res = await server.request('POST', '/api/task-types', { name: 'extra', colour: 'blue' });
    expect(res.status).toBe(201);
    expect(res.body).not.toHaveProperty('colour');
  });

  it.each([
    ['a missing name', {}, ['body', 'name'], 'Field required'],
    ['an empty name', { name: '' }, ['body', 'name'], 'must not be empty'],
    ['a blank name', { name: '   ' }, ['body', 'name'], 'must not be blank'],
    ['a mistyped name', { name: 42 }, ['body', 'name'], 'expected string'],
    ['a schema that is not an object', { name: 'x1', parameters_schema: [1] }, ['body', 'parameters_schema'], 'expected record'],
    ['metadata that is not an object', { name: 'x2', metadata: 'tag' }, ['body', 'metadata'], 'expected record'],
  ])('answers 422 naming the field for %s', async (_case, body, loc, msg) => {
    const res = await server.request('POST', '/api/task-types', body);
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual(expect.arrayContaining([expect.objectContaining({ loc, msg: expect.stringContaining(msg) })]));
  });

  it('answers malformed JSON with 422 and a detail, never 500', async () => {
    const res = await server.request('POST', '/api/task-types', '{"name": "oops"');
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ['body'], type: 'json_invalid' });
  });

  it('answers a body that is not JSON at all with a 4xx detail', async () => {
    const res = await server.request('POST', '/api/task-types', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
    expect(res.body.detail).toContain('application/json');
  });

  it('accepts a JSON content type with a charset', async () => {
    const res = await server.request('POST', '/api/task-types', { name: 'charset' }, { 'content-type': 'application/json; charset=utf-8' });
    expect(res.status).toBe(201);
  });
});

describe('GET /api/task-types', () => {
  it('lists active types, and inactive ones too with include_inactive=true', async () => {
    await server.request('POST', '/api/task-types', { name: 'listed' });
    const gone = await server.request('POST', '/api/task-types', { name: 'beta-gone' });
    expect((await server.request('DELETE', `/api/task-types/${gone.body.id}`)).status).toBe(204);
    const names = async (query: string) => {
      const res = await server.request('GET', `/api/task-types${query}`);
      expect(res.status).toBe(200);
      return res.body.map((t: { name: string }) => t.name);
    };
    for (const query of ['', '?include_inactive=false']) {
      expect(await names(query)).toContain('listed');
      expect(await names(query)).not.toContain('beta-gone');
    }
    expect(await names('?include_inactive=true')).toEqual(expect.arrayContaining(['listed', 'beta-gone']));
  });

  it('answers 422 for an include_inactive that is not a boolean', async () => {
    const res = await server.request('GET', '/api/task-types?include_inactive=maybe');
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['query', 'include_inactive']);
  });
});

describe('GET /api/task-types/{task_type_id}', () => {
  it('answers 404 with the documented detail', async () => {
    const res = await server.request('GET', '/api/task-types/999');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Task type 999 not found' });
  });

  it('answers 422 for an id that is not a positive integer', async () => {
    for (const id of ['abc', '1.5', '0', '-3', '99999999999999999999']) {
      const res = await server.request('GET', `/api/task-types/${id}`);
      expect(res.status, id).toBe(422);
      expect(res.body.detail[0].loc).toEqual(['path', 'task_type_id']);
    }
  });
});

describe('PUT /api/task-types/{task_type_id}', () => {
  it('answers 200 with the type as updated', async () => {
    const created = await server.request('POST', '/api/task-types', { name: 'updatable', description: 'before' });
    const res = await server.request('PUT', `/api/task-types/${created.body.id}`, { description: 'after' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'updatable', description: 'after', updated_at: expect.stringMatching(ISO_UTC) });
    expect((await server.request('GET', `/api/task-types/${created.body.id}`)).body).toEqual(res.body);
  });

  it('answers 404 for a missing type', async () => {
    const res = await server.request('PUT', '/api/task-types/999', { description: 'x' });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Task type 999 not found' });
  });

  it('rejects a string where a boolean belongs, even after other REST calls', async () => {
    const created = await server.request('POST', '/api/task-types', { name: 'strict-bool' });
    const res = await server.request('PUT', `/api/task-types/${created.body.id}`, { is_active: 'false' });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ['body', 'is_active'] });
    expect((await server.request('GET', `/api/task-types/${created.body.id}`)).body.is_active).toBe(true);
  });
});

describe('DELETE /api/task-types/{task_type_id}', () => {
  it('soft-deletes with 204 and an empty body', async () => {
    const created = await server.request('POST', '/api/task-types', { name: 'soft' });
    const res = await server.request('DELETE', `/api/task-types/${created.body.id}`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    const after = await server.request('GET', `/api/task-types/${created.body.id}`);
    expect(after.status).toBe(200);
    expect(after.body.is_active).toBe(false);
  });

  it('answers 404 for a missing type', async () => {
    const res = await server.request('DELETE', '/api/task-types/999');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Task type 999 not found' });
  });
});

describe('task types by name', () => {
  const schema = { type: 'object', properties: { to: { type: 'string' } }, required: ['to'] };

  it('PUT /api/task-types/by-name/{name} registers a new name (201), then answers 200 leaving a matching type as it is', async () => {
    const path = `/api/task-types/by-name/${encodeURIComponent('send email')}`;
    const first = await server.request('PUT', path, { parameters_schema: schema, max_attempts: 4 });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ name: 'send email', parameters_schema: schema, max_attempts: 4, is_active: true, updated_at: null });

    const again = await server.request('PUT', path, { parameters_schema: schema, max_attempts: 4 });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);

    const changed = await server.request('PUT', path, { parameters_schema: { type: 'object' } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: first.body.id, parameters_schema: { type: 'object' }, max_attempts: 4, updated_at: expect.stringMatching(ISO_UTC) });

    const invalid = await server.request('PUT', path, { parameters_schema: { type: 'no such type' } });
    expect(invalid.status).toBe(422);
    // A name of 255 characters, far longer once percent-encoded, and one longer than 255 once decoded.
    const long = 'é'.repeat(255);
    expect((await server.request('PUT', `/api/task-types/by-name/${encodeURIComponent(long)}`, {})).status).toBe(201);
    expect((await server.request('GET', `/api/task-types/by-name/${encodeURIComponent(long)}`)).body.name).toBe(long);
    expect((await server.request('PUT', `/api/task-types/by-name/${encodeURIComponent(long + 'e')}`, {})).status).toBe(422);
  });

  it('GET /api/task-types/by-name/{name} answers the type, or 404 naming it', async () => {
    const created = await server.request('POST', '/api/task-types', { name: 'by/name lookup' });
    const found = await server.request('GET', `/api/task-types/by-name/${encodeURIComponent('by/name lookup')}`);
    expect(found.status).toBe(200);
    expect(found.body).toEqual(created.body);
    const missing = await server.request('GET', '/api/task-types/by-name/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: "Task type 'nobody' not found" });
  });

  it('are the same operations over tRPC', async () => {
    const declared = await server.request('POST', '/trpc/taskTypes.declare', { name: 'declared over trpc', metadata: { team: 'mail' } });
    expect(declared.status).toBe(200);
    expect(declared.body.result.data).toMatchObject({ name: 'declared over trpc', metadata: { team: 'mail' } });
    const input = encodeURIComponent(JSON.stringify({ name: 'declared over trpc' }));
    const found = await server.request('GET', `/trpc/taskTypes.getByName?input=${input}`);
    expect(found.body.result.data).toEqual(declared.body.result.data);
  });
});
