import { buildOpenApiDocument } from '@prismq/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe('service endpoints', () => {
  it('GET /healthz answers ok', async () => {
    const res = await server.request('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /docs serves the API reference from local assets only', async () => {
    const page = await server.request('GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThan(2);
    for (const source of sources) {
      expect(source, 'no CDN: every asset is served by us').toMatch(/^\/docs\//);
      const asset = await server.request('GET', source);
      expect(asset.status, source).toBe(200);
      expect(asset.text.length, source).toBeGreaterThan(0);
    }
    const init = await server.request('GET', '/docs/init.js');
    expect(init.text).toContain('/api/openapi.json');
  });

  it('GET /api/openapi.json serves the OpenAPI document that @prismq/api builds', async () => {
    const res = await server.request('GET', '/api/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.body).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
  });

  it('does not serve other files of the Swagger UI package', async () => {
    expect((await server.request('GET', '/docs/assets/index.html')).status).toBe(404);
    expect((await server.request('GET', '/docs/assets/../package.json')).status).toBe(404);
  });

  it('answers unknown paths with 404 and a detail', async () => {
    for (const path of ['/api/nothing-here', '/nothing-here']) {
      const res = await server.request('GET', path);
      expect(res.status).toBe(404);
      expect(typeof res.body.detail).toBe('string');
    }
  });

  it('never sends a stack trace in an error', async () => {
    const rest = await server.request('POST', '/api/tasks', { task_type_id: 'x' });
    const trpc = await server.request('POST', '/trpc/tasks.create', { task_type_id: 'x' });
    expect(trpc.status).toBe(422);
    for (const res of [rest, trpc]) expect(res.text).not.toMatch(/stack|at .*\.ts:\d+/);
  });

  it('answers an oversized body with 413 and a detail', async () => {
    const res = await server.request('POST', '/api/tasks', { task_type_id: 1, parameters: { blob: 'x'.repeat(1_100_000) } });
    expect(res.status).toBe(413);
    expect(typeof res.body.detail).toBe('string');
  });
});
