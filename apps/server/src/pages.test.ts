/**
 * The task list over HTTP: pages (the `cursor` parameter, the Link and X-Next-Cursor headers, the
 * tRPC page procedure), filters and sorts in a URL, and 422 for bad ones. What the store does
 * with them is tested per engine in packages/db/src/contract (pages).
 */
import type { Task } from '@prismq/db';
import { describe, expect, it } from 'vitest';
import { locs, useQueueServer } from './http-testing.js';
import type { TestResponse } from './testing.js';

const api = useQueueServer();
const { newType, createTask } = api;

/** A GET of the list that must answer 200. */
async function list(query: string): Promise<TestResponse & { body: Task[] }> {
  const res = await api.request('GET', `/api/tasks?${query}`);
  expect(res.status, res.text).toBe(200);
  expect(Array.isArray(res.body)).toBe(true);
  return res as TestResponse & { body: Task[] };
}

/** The ids of the tasks of a GET of the list. */
const idsOf = async (query: string) => (await list(query)).body.map((task: Task) => task.id);

/** The URL of the next page from a Link header. */
const nextLink = (res: TestResponse): string | undefined => /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];

/** A tRPC query, answering its data. */
async function trpcQuery(procedure: string, input: unknown): Promise<TestResponse> {
  return api.request('GET', `/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`);
}

describe('GET /api/tasks pages', () => {
  it('answers a plain array, with Link and X-Next-Cursor to the next page keeping the other parameters, and none on the last', async () => {
    const type = await newType();
    const created: Task[] = [];
    for (let i = 0; i < 5; i++) created.push(await createTask({ task_type_id: type.id }));
    const first = await list(`task_type_id=${type.id}&limit=2&status=pending`);
    expect(first.body.map((t: Task) => t.id)).toEqual([created[4]!.id, created[3]!.id]);
    const cursor = first.headers.get('x-next-cursor');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const next = nextLink(first)!;
    const url = new URL(next, api.server.url);
    expect(url.pathname).toBe('/api/tasks');
    expect(Object.fromEntries(url.searchParams)).toEqual({ task_type_id: String(type.id), limit: '2', status: 'pending', cursor });

    const second = await api.request('GET', next);
    expect(second.body.map((t: Task) => t.id)).toEqual([created[2]!.id, created[1]!.id]);
    const last = await api.request('GET', nextLink(second)!);
    expect(last.body.map((t: Task) => t.id)).toEqual([created[0]!.id]);
    expect(last.headers.get('link')).toBeNull();
    expect(last.headers.get('x-next-cursor')).toBeNull();
  });

  it('lists every task that exists throughout exactly once while others are created and deleted concurrently', async () => {
    const type = await newType();
    const kept = new Set<number>();
    const doomed: number[] = [];
    for (let i = 0; i < 45; i++) {
      const task = await createTask({ task_type_id: type.id });
      if (i % 3 === 0) doomed.push(task.id);
      else kept.add(task.id);
    }
    // Creates a task and deletes one of those not kept (the first ones, then those it created).
    const churn = async () => {
      const task = await createTask({ task_type_id: type.id });
      doomed.push(task.id);
      const res = await api.request('DELETE', `/api/tasks/${doomed.shift()!}`);
      expect(res.status).toBe(204);
    };
    for (const sort of ['newest', 'oldest']) {
      const seen: number[] = [];
      let path: string | undefined = `/api/tasks?task_type_id=${type.id}&sort=${sort}&limit=4`;
      while (path) {
        // Each page is read while a create and a delete are under way: one of each per page, so
        // that a walk in creation order ends (it reads 4 tasks a page, and 1 is added).
        const [res] = await Promise.all([api.request('GET', path), churn()]);
        expect(res.status, res.text).toBe(200);
        seen.push(...res.body.map((task: Task) => task.id));
        path = nextLink(res);
      }
      expect(new Set(seen).size, 'no task twice').toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining([...kept]));
    }
  });

  it('walks the same pages through tRPC tasks.page, with next_cursor in the body', async () => {
    const type = await newType();
    const created: Task[] = [];
    for (let i = 0; i < 5; i++) created.push(await createTask({ task_type_id: type.id, priority: 10 - i }));
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const res = await trpcQuery('tasks.page', { task_type_id: type.id, sort: 'priority', limit: 2, ...(cursor ? { cursor } : {}) });
      expect(res.status, res.text).toBe(200);
      const page = res.body.result.data as { items: Task[]; next_cursor: string | null };
      seen.push(...page.items.map((task) => task.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(created.map((task) => task.id).reverse());
    // tasks.list over tRPC takes the same filters, and answers the array.
    const listed = await trpcQuery('tasks.list', { task_type: type.name, status: ['pending'], priority_max: 7 });
    expect(listed.body.result.data.map((task: Task) => task.id)).toEqual([created[4]!.id, created[3]!.id]);
  });
});

describe('GET /api/tasks filters and sorts', () => {
  it('takes several statuses, repeated or as a comma list, the type by name, a priority range and a sort', async () => {
    const type = await newType();
    const [a, b, c] = [await createTask({ task_type_id: type.id, priority: 5 }), await createTask({ task_type_id: type.id, priority: 50 }), await createTask({ task_type_id: type.id, priority: 500 })];
    await api.request('PUT', `/api/tasks/${a.id}`, { status: 'failed' });
    await api.request('POST', `/api/tasks/${b.id}/cancel`);
    expect(await idsOf(`task_type_id=${type.id}&status=failed&status=cancelled`)).toEqual([b.id, a.id]);
    expect(await idsOf(`task_type=${encodeURIComponent(type.name)}&status=failed,cancelled&sort=oldest`)).toEqual([a.id, b.id]);
    expect(await idsOf(`task_type=${encodeURIComponent(type.name)}&status=failed,pending&status=cancelled&sort=priority`)).toEqual([a.id, b.id, c.id]);
    expect(await idsOf(`task_type_id=${type.id}&priority_min=6&priority_max=500&sort=priority`)).toEqual([b.id, c.id]);
  });

  it('takes times with an offset, a worker, an idempotency key and a metadata field', async () => {
    const type = await newType();
    const task = await createTask({ task_type_id: type.id, idempotency_key: 'order-7', metadata: { region: 'eu', size: 3 }, run_at: '2031-01-01T12:00:00+02:00' });
    await createTask({ task_type_id: type.id, metadata: { region: 'us' } });
    const q = `task_type_id=${type.id}`;
    expect(await idsOf(`${q}&run_at_after=${encodeURIComponent('2031-01-01T09:59:59+00:00')}&run_at_before=2031-01-01T10:00:01Z`)).toEqual([task.id]);
    expect(await idsOf(`${q}&created_before=${encodeURIComponent(task.created_at)}`)).toEqual([]);
    expect(await idsOf(`${q}&idempotency_key=order-7`)).toEqual([task.id]);
    expect(await idsOf(`${q}&metadata_key=region&metadata_value=eu`)).toEqual([task.id]);
    expect(await idsOf(`${q}&metadata_key=size&metadata_value=3`)).toEqual([task.id]);
    const [claimed] = await api.claim({ worker_id: 'filter-worker', task_type_ids: [type.id] });
    expect(await idsOf(`${q}&worker_id=filter-worker`)).toEqual([claimed!.id]);
  });

  it.each([
    ['a garbled cursor', 'cursor=nonsense', ['query', 'cursor']],
    ['an unknown sort', 'sort=size', ['query', 'sort']],
    ['a time that is not ISO 8601', 'created_after=yesterday', ['query', 'created_after']],
    ['an unknown status', 'status=pending,lost', ['query', 'status']],
    ['a priority out of range', 'priority_min=0', ['query', 'priority_min']],
    ['a metadata key without a value', 'metadata_key=region', ['query', 'metadata_value']],
  ])('answers 422 with a detail for %s', async (_what, query, loc) => {
    const res = await api.request('GET', `/api/tasks?${query}`);
    expect(res.status, res.text).toBe(422);
    expect(locs(res)).toEqual([loc]);
  });

  it('answers 422 for a cursor of another sort', async () => {
    const type = await newType();
    for (let i = 0; i < 2; i++) await createTask({ task_type_id: type.id });
    const first = await list(`task_type_id=${type.id}&limit=1`);
    const res = await api.request('GET', `/api/tasks?task_type_id=${type.id}&limit=1&sort=oldest&cursor=${first.headers.get('x-next-cursor')}`);
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([expect.objectContaining({ loc: ['query', 'cursor'], msg: expect.stringContaining("'newest'") })]);
  });
});
