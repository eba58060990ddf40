import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const ids = (tasks: { id: number }[]) => tasks.map((task) => task.id);

describe('GET /api/tasks?q=', () => {
  it('finds a task by a word in its parameters, and by one in its error, the same over REST and tRPC', async () => {
    const type = (await server.request('POST', '/api/task-types', { name: 'mailer', max_attempts: 1 })).body;
    const create = async (parameters: object) => (await server.request('POST', '/api/tasks', { task_type_id: type.id, parameters })).body;
    const invoice = await create({ to: 'billing@northwind.example', template: 'invoice' });
    const welcome = await create({ to: 'new.user@contoso.example', template: 'welcome' });

    const byWord = await server.request('GET', '/api/tasks?q=northwind');
    expect(byWord.status).toBe(200);
    expect(ids(byWord.body)).toEqual([invoice.id]);
    expect(ids((await server.request('GET', `/api/tasks?q=${encodeURIComponent('Contoso WELCOME')}`)).body)).toEqual([welcome.id]);

    const [claimed] = (await server.request('POST', '/api/tasks/claim', { worker_id: 'w', task_type_ids: [type.id] })).body;
    const failed = await server.request('POST', `/api/tasks/${claimed.id}/fail`, {
      worker_id: 'w',
      lease_id: claimed.lease_id,
      error_message: 'mailbox unavailable: greylisted by mx3',
    });
    expect(failed.status).toBe(200);
    expect(ids((await server.request('GET', '/api/tasks?q=greylisted')).body)).toEqual([claimed.id]);
    expect(ids((await server.request('GET', '/api/tasks?q=greylisted&status=pending')).body)).toEqual([]);

    const input = encodeURIComponent(JSON.stringify({ q: 'example', task_type_id: type.id, limit: 1 }));
    const page = await server.request('GET', `/trpc/tasks.page?input=${input}`);
    expect(page.status).toBe(200);
    expect(ids(page.body.result.data.items)).toEqual([welcome.id]);
    expect(page.body.result.data.next_cursor).toEqual(expect.any(String));
  });

  it('answers 422 for a query without a word, and with a sort other than newest and oldest', async () => {
    const empty = await server.request('GET', '/api/tasks?q=%20--%20');
    expect(empty.status).toBe(422);
    expect(empty.body.detail).toEqual([expect.objectContaining({ loc: ['query', 'q'] })]);
    const sorted = await server.request('GET', '/api/tasks?q=x&sort=priority');
    expect(sorted.status).toBe(422);
    expect(sorted.body.detail).toEqual([expect.objectContaining({ loc: ['query', 'sort'] })]);
  });
});
