import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { LeaseLostError, type Task, type TaskExchangeInput } from './index.js';
import { createWorker, type WorkerOptions } from './worker.js';
import { useServerAndWorkers } from './client-testing.js';

const ctx = useServerAndWorkers();
const { workers } = ctx;

let typeCounter = 0;
async function newType(options: { max_attempts?: number; retry_base_seconds?: number; parameters_schema?: Record<string, unknown> } = {}) {
  return ctx.client.taskTypes.create.mutate({ name: `worker_type_${++typeCounter}`, ...options });
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const taskIn = (id: number, ...statuses: Task['status'][]) => async () => {
  const task = await ctx.client.tasks.get.query({ task_id: id });
  return statuses.includes(task.status) ? task : undefined;
};

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

function start<T extends Record<string, object>>(options: Omit<WorkerOptions<T>, 'url'> & { url?: string }) {
  const worker = createWorker<T>({ url: ctx.server.url, handleSignals: false, waitSeconds: 2, logLevel: 'silent', onError: () => {}, ...options });
  workers.push(worker);
  return worker;
}

describe('createWorker', () => {
  it('runs typed handlers and completes tasks with their return value', async () => {
    const type = await newType();
    start<{ [k: string]: { a: number; b: number } }>({
      handlers: { [type.name]: async (task) => ({ sum: task.parameters.a + task.parameters.b }) },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id, parameters: { a: 2, b: 3 } });
    const done = await eventually(taskIn(task.id, 'completed'));
    expect(done).toMatchObject({ result: { sum: 5 }, attempts: 1 });
  });

  it('type-checks parameters per task type', () => {
    const typed = () =>
      createWorker<{ video_processing: { format: 'mp4' | 'webm' } }>({
        url: ctx.server.url,
        handlers: {
          video_processing: (task) => {
            const format: 'mp4' | 'webm' = task.parameters.format;
            // @ts-expect-error not a parameter of this type
            void task.parameters.resolution;
            return format;
          },
        },
      });
    expect(typed).toBeTypeOf('function');
  });

  it('fails the attempt with the thrown error message, retrying until attempts run out', async () => {
    const type = await newType({ max_attempts: 1 });
    start({
      handlers: {
        [type.name]: () => {
          throw new Error('dataset not found');
        },
      },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    expect(await eventually(taskIn(task.id, 'failed'))).toMatchObject({ error_message: 'dataset not found', attempts: 1 });
  });

  it('runs up to `concurrency` handlers at once', async () => {
    const type = await newType();
    let current = 0;
    let peak = 0;
    const release = gate();
    start({
      concurrency: 3,
      handlers: {
        [type.name]: async () => {
          peak = Math.max(peak, ++current);
          await release.opened;
          current--;
        },
      },
    });
    const tasks = await ctx.client.tasks.createBatch.mutate({ tasks: Array.from({ length: 5 }, () => ({ task_type_id: type.id })) });
    await eventually(async () => (peak === 3 ? true : undefined));
    release.open();
    for (const task of tasks) await eventually(taskIn(task.id, 'completed'));
    expect(peak).toBe(3);
  });

  it('keeps the lease alive with heartbeats while a handler runs past it', async () => {
    const type = await newType();
    const release = gate();
    start({ leaseSeconds: 1, handlers: { [type.name]: () => release.opened.then(() => 'done') } });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    const claimed = await eventually(taskIn(task.id, 'running'));
    // Wait until the lease has been extended beyond the first one's end, twice over.
    const firstExpiry = Date.parse(claimed.lease_expires_at!);
    await eventually(async () => {
      const t = await ctx.client.tasks.get.query({ task_id: task.id });
      return Date.parse(t.lease_expires_at ?? '0') > firstExpiry + 1000 ? t : undefined;
    });
    release.open();
    expect(await eventually(taskIn(task.id, 'completed'))).toMatchObject({ attempts: 1, result: 'done' });
  });

  it('aborts the handler signal when its task is cancelled, and does not settle it', async () => {
    const type = await newType();
    let aborted: unknown;
    const started = gate();
    const finished = gate();
    start({
      leaseSeconds: 1,
      handlers: {
        [type.name]: async (_task, { signal }) => {
          started.open();
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          aborted = signal.reason;
          finished.open();
          return 'should not be stored';
        },
      },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    await started.opened;
    await ctx.client.tasks.cancel.mutate({ task_id: task.id });
    await finished.opened;
    expect(aborted).toBeInstanceOf(LeaseLostError);
    expect(String(aborted)).toMatch(/it is cancelled/);
    const after = await ctx.client.tasks.get.query({ task_id: task.id });
    expect(after).toMatchObject({ status: 'cancelled', result: null });
  });

  it('reports outcomes that are ready together in one exchange, which claims the next tasks in the same request', async () => {
    const type = await newType();
    const release = gate();
    let started = 0;
    const allStarted = gate();
    const requests: { path: string; body: string }[] = [];
    const countingFetch: typeof fetch = (input, init) => {
      requests.push({ path: decodeURIComponent(new URL(String(input)).pathname), body: String(init?.body ?? '') });
      return fetch(input, init);
    };
    const worker = start({
      fetch: countingFetch,
      concurrency: 10,
      handlers: {
        [type.name]: async () => {
          if (++started === 10) allStarted.open();
          await release.opened;
          return 'done';
        },
      },
    });
    const tasks = await ctx.client.tasks.createBatch.mutate({ tasks: Array.from({ length: 10 }, () => ({ task_type_id: type.id })) });
    await allStarted.opened;
    release.open();
    for (const task of tasks) await eventually(taskIn(task.id, 'completed'));
    await worker.stop();

    // Every claim and every outcome went by tasks.exchange, each request alone (never batched).
    const exchanges = requests.filter(({ path }) => path === '/trpc/tasks.exchange').map(({ body }) => JSON.parse(body) as TaskExchangeInput);
    expect(requests.filter(({ path }) => !path.startsWith('/trpc/taskTypes.get'))).toHaveLength(exchanges.length);
    const reporting = exchanges.filter((exchange) => (exchange.completed ?? []).length > 0);
    expect(reporting.flatMap((exchange) => exchange.completed!.map((done) => done.task_id)).sort()).toEqual(tasks.map((task) => task.id).sort());
    expect(reporting.length).toBeLessThan(10);
    // An exchange that reports outcomes claims in the same request, and never waits.
    for (const exchange of reporting) expect(exchange).toMatchObject({ limit: expect.any(Number), wait_seconds: 0 });
    expect(reporting.some((exchange) => exchange.limit! > 0)).toBe(true);
  });

  it('with prefetch, holds that many tasks beyond its concurrency and runs them as handlers free up', async () => {
    const type = await newType();
    const release = gate();
    let running = 0;
    let most = 0;
    const worker = start({
      concurrency: 2,
      prefetch: 2,
      handlers: {
        [type.name]: async () => {
          most = Math.max(most, ++running);
          await release.opened;
          running--;
          return 'done';
        },
      },
    });
    const tasks = await ctx.client.tasks.createBatch.mutate({ tasks: Array.from({ length: 8 }, () => ({ task_type_id: type.id })) });
    const leased = async () => (await ctx.client.tasks.list.query({ task_type_id: type.id, status: 'running', limit: 100 })).length;
    // Two running, two held: four leased to the worker, the other four left for other workers.
    await expect.poll(leased).toBe(4);
    expect(worker.active).toBe(2);
    expect((await ctx.client.tasks.list.query({ task_type_id: type.id, status: 'pending', limit: 100 })).length).toBe(4);
    release.open();
    for (const task of tasks) await eventually(taskIn(task.id, 'completed'));
    expect(most).toBe(2);
  });

  it('drains on stop: claims nothing more and lets running handlers finish', async () => {
    const type = await newType();
    const started = gate();
    const release = gate();
    const worker = start({
      handlers: {
        [type.name]: async () => {
          started.open();
          await release.opened;
          return 'finished';
        },
      },
    });
    const first = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    await started.opened;

    let stopped = false;
    const stopping = worker.stop().then(() => (stopped = true));
    const second = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    expect(worker.active).toBe(1);
    expect(stopped).toBe(false);

    release.open();
    await stopping;
    await worker.stopped;
    expect(await ctx.client.tasks.get.query({ task_id: first.id })).toMatchObject({ status: 'completed', result: 'finished' });
    expect(await ctx.client.tasks.get.query({ task_id: second.id })).toMatchObject({ status: 'pending', attempts: 0 });
  });
});

describe('createWorker: progress', () => {
  /** The attempts of a task, as GET /api/tasks/{id}/attempts lists them. */
  const attemptsOf = (id: number) => ctx.client.tasks.attempts.query({ task_id: id });

  it('reports a handler’s ctx.progress at once, on the task and its attempt', async () => {
    const type = await newType();
    const release = gate();
    start({
      handlers: {
        [type.name]: async (_task, ctx) => {
          ctx.progress(50, 'half');
          await release.opened;
          return 'done';
        },
      },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    // Long before the first regular heartbeat (a third of the 60 s lease).
    await expect.poll(async () => (await ctx.client.tasks.get.query({ task_id: task.id })).progress).toBe(50);
    expect(await ctx.client.tasks.get.query({ task_id: task.id })).toMatchObject({ status: 'running', progress: 50, progress_message: 'half' });
    expect(await attemptsOf(task.id)).toEqual([expect.objectContaining({ progress: 50, progress_message: 'half', heartbeats: 1, outcome: null })]);
    release.open();
    await eventually(taskIn(task.id, 'completed'));
    expect(await attemptsOf(task.id)).toEqual([expect.objectContaining({ progress: 50, progress_message: 'half', outcome: 'completed' })]);
  });

  it('coalesces a tight loop of reports: one heartbeat on its way, then the latest, which arrives before the outcome', async () => {
    const type = await newType();
    start({
      handlers: {
        [type.name]: (_task, ctx) => {
          for (let percent = 0; percent <= 100; percent++) ctx.progress(percent, `step ${percent}`);
          return 'done';
        },
      },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    const done = await eventually(taskIn(task.id, 'completed'));
    expect(done).toMatchObject({ progress: 100, progress_message: 'step 100' });
    const [attempt] = await attemptsOf(task.id);
    expect(attempt).toMatchObject({ progress: 100, progress_message: 'step 100', outcome: 'completed' });
    expect(attempt!.heartbeats).toBeGreaterThanOrEqual(1);
    expect(attempt!.heartbeats).toBeLessThanOrEqual(2);
  });

  it('refuses a percent outside 0 to 100 in the handler, failing the attempt', async () => {
    const type = await newType({ max_attempts: 1 });
    start({ handlers: { [type.name]: (_task, ctx) => ctx.progress(101) } });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    const failed = await eventually(taskIn(task.id, 'failed'));
    expect(failed.error_message).toMatch(/progress must be a number from 0 to 100/);
  });

  it('aborts the handler’s signal when a report finds the task cancelled, and reports no error', async () => {
    const type = await newType();
    const errors: unknown[] = [];
    const cancelled = gate();
    start({
      onError: (error) => errors.push(error),
      handlers: {
        [type.name]: async (_task, ctx) => {
          await cancelled.opened;
          const aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          ctx.progress(10, 'still here');
          await aborted;
          return 'too late';
        },
      },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    await eventually(taskIn(task.id, 'running'));
    await ctx.client.tasks.cancel.mutate({ task_id: task.id });
    cancelled.open();
    await expect.poll(async () => (await attemptsOf(task.id))[0]?.outcome).toBe('cancelled');
    // The handler returns once its signal is aborted; its outcome is not reported.
    await vi.waitFor(() => expect(workers.at(-1)!.active).toBe(0));
    expect(await ctx.client.tasks.get.query({ task_id: task.id })).toMatchObject({ status: 'cancelled', progress: null, result: null });
    expect(errors).toEqual([]);
  });
});

/** A logger that keeps what it is told, as pino would write it. */
function captureLog() {
  const entries: { level: string; fields: Record<string, unknown>; message: string | undefined }[] = [];
  const at = (level: string) => (fields: object, message?: string) => void entries.push({ level, fields: fields as Record<string, unknown>, message });
  return { entries, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

/**
 * A TCP relay to the test server that can be cut and restored, to play a server that goes away
 * and comes back.
 */
async function startRelay(target: string) {
  const { port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  let up = true;
  const relay = createNetServer((socket) => {
    if (!up) return void socket.destroy();
    const upstream = connect(Number(targetPort), '127.0.0.1');
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    socket.pipe(upstream).pipe(socket);
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    close: () => new Promise<void>((resolve) => relay.close(() => resolve())),
  };
}

/**
 * An HTTP proxy to the test server that answers 503, as a server whose database is down would,
 * to the tRPC calls of one procedure while told to: the other calls go through.
 */
async function startProxy(target: string) {
  let refusing: string | undefined;
  let refused = 0;
  const proxy = createHttpServer((req, res) => {
    const procedures = new URL(req.url ?? '/', target).pathname.replace(/^\/trpc\//, '').split(',');
    if (refusing !== undefined && procedures.includes(refusing)) {
      refused++;
      const error = { error: { message: 'the database is down', code: -32603, data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503, detail: 'the database is down' } } };
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url?.includes('batch=1') ? procedures.map(() => error) : error));
      return;
    }
    const upstream = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    /** Answers 503 to the calls of `procedure` from now on; undefined lets them through again. */
    refuse(procedure: string | undefined) {
      refusing = procedure;
    },
    get refused() {
      return refused;
    },
    close: () => new Promise<void>((resolve) => (proxy.closeAllConnections(), proxy.close(() => resolve()))),
  };
}

describe('createWorker: what it tells', () => {
  it('logs a handler’s failure with the task’s id, type and attempt, and says when it was the last', async () => {
    const type = await newType({ max_attempts: 2, retry_base_seconds: 0 });
    const { entries, logger } = captureLog();
    start({ logger, handlers: { [type.name]: () => Promise.reject(new Error('disk full')) } });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    await eventually(taskIn(task.id, 'failed'));
    await vi.waitFor(() => expect(entries.filter((e) => e.level === 'warn')).toHaveLength(2));
    const failures = entries.filter((e) => e.level === 'warn');
    expect(failures.map((e) => e.message)).toEqual(['handler failed: the task will be retried', 'handler failed on its last attempt: the task fails']);
    expect(failures[0]!.fields).toMatchObject({ task_id: task.id, task_type: type.name, attempt: 1, max_attempts: 2 });
    expect((failures[0]!.fields.err as Error).message).toBe('disk full');
    expect(entries[0]).toMatchObject({ level: 'info', message: 'worker started', fields: { task_types: [type.name] } });
  });

  it('logs a cancellation as such, not as an error', async () => {
    const type = await newType();
    const { entries, logger } = captureLog();
    const started = gate();
    start({
      logger,
      leaseSeconds: 3,
      handlers: {
        [type.name]: async (_task, { signal }) => {
          started.open();
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        },
      },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    await started.opened;
    await ctx.client.tasks.cancel.mutate({ task_id: task.id });
    await vi.waitFor(() => expect(entries.find((e) => e.message?.startsWith('task cancelled'))).toMatchObject({ level: 'info', fields: { task_id: task.id, task_type: type.name } }), {
      timeout: 10_000,
    });
    expect(entries.filter((e) => e.level === 'error')).toEqual([]);
  });

  it('says once that the server cannot be reached, keeps finished outcomes, and says when it answers again', async () => {
    const type = await newType();
    const relay = await startRelay(ctx.server.url);
    const { entries, logger } = captureLog();
    const release = gate();
    try {
      let failures = 0;
      start({ url: relay.url, logger, waitSeconds: 1, onError: () => failures++, handlers: { [type.name]: async () => (await release.opened, 'done') } });
      const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
      await eventually(taskIn(task.id, 'running'));
      relay.cut();
      release.open();
      await vi.waitFor(() => expect(entries.some((e) => e.message?.startsWith('cannot reach the server'))).toBe(true), { timeout: 10_000 });
      // It keeps trying (every second), without saying so each time.
      // Two or three fail before the lease is taken for lost (its 1.5 s ran out without a renewal).
      await vi.waitFor(() => expect(failures).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
      expect(entries.filter((e) => e.message?.startsWith('cannot reach'))).toHaveLength(1);
      relay.restore();
      expect(await eventually(taskIn(task.id, 'completed'))).toMatchObject({ result: 'done' });
      expect(entries.find((e) => e.message === 'the server answers again')).toMatchObject({ level: 'info', fields: { down_ms: expect.any(Number) } });
    } finally {
      await Promise.all(workers.splice(0).map((w) => w.stop()));
      await relay.close();
    }
  });

  it('says once that the server cannot be reached while heartbeats fail, not at every heartbeat', async () => {
    const type = await newType();
    const relay = await startRelay(ctx.server.url);
    const { entries, logger } = captureLog();
    const release = gate();
    let failures = 0;
    try {
      // A heartbeat every half second.
      start({ url: relay.url, logger, leaseSeconds: 1.5, onError: () => failures++, handlers: { [type.name]: async () => (await release.opened, 'done') } });
      const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
      await eventually(taskIn(task.id, 'running'));
      await vi.waitFor(() => expect(workers[0]!.active).toBe(1));
      relay.cut();
      // Two or three fail before the lease is taken for lost (its 1.5 s ran out without a renewal);
      // the server cannot say what became of the task, which is not taken for gone.
      await vi.waitFor(() => expect(failures).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
      await vi.waitFor(() => expect(entries.map((e) => e.message)).toContain('lease lost: its handler was aborted, and its outcome will not be reported'), { timeout: 10_000 });
      expect(entries.filter((e) => e.message?.includes('the task is gone'))).toEqual([]);
      // The handler ends (its outcome is no longer the worker's to report), and the worker asks for work again.
      release.open();
      relay.restore();
      await vi.waitFor(() => expect(entries.some((e) => e.message === 'the server answers again')).toBe(true), { timeout: 10_000 });
      expect(entries.filter((e) => e.message?.startsWith('cannot reach the server'))).toHaveLength(1);
      expect(entries.filter((e) => e.level === 'error')).toEqual([]);
    } finally {
      release.open();
      await Promise.all(workers.splice(0).map((w) => w.stop()));
      await relay.close();
    }
  });

  it('says so when the server does not answer the lookup of a task’s type, and runs the task once it does', async () => {
    const type = await newType();
    const proxy = await startProxy(ctx.server.url);
    const { entries, logger } = captureLog();
    try {
      proxy.refuse('taskTypes.get');
      start({ url: proxy.url, logger, waitSeconds: 1, handlers: { [type.name]: async () => 'done' } });
      const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
      await vi.waitFor(() => expect(entries.some((e) => e.message?.startsWith('the server is unavailable'))).toBe(true), { timeout: 10_000 });
      // Asked again every second while its lease holds; said once.
      await vi.waitFor(() => expect(proxy.refused).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
      expect(entries.filter((e) => e.message?.startsWith('the server is unavailable'))).toHaveLength(1);
      expect(await ctx.client.tasks.get.query({ task_id: task.id })).toMatchObject({ status: 'running', attempts: 1 });
      proxy.refuse(undefined);
      expect(await eventually(taskIn(task.id, 'completed'))).toMatchObject({ result: 'done', attempts: 1 });
      expect(entries.find((e) => e.message === 'the server answers again')).toMatchObject({ level: 'info', fields: { down_ms: expect.any(Number) } });
    } finally {
      await Promise.all(workers.splice(0).map((w) => w.stop()));
      await proxy.close();
    }
  });

  it('with shutdownTimeoutMs, gives up a handler that does not finish: stop() resolves, and the attempt is failed for a retry', async () => {
    const type = await newType({ max_attempts: 3 });
    const { entries, logger } = captureLog();
    const started = gate();
    let aborted: unknown;
    const worker = start({
      logger,
      shutdownTimeoutMs: 300,
      handlers: {
        [type.name]: async (_task, { signal }) => {
          started.open();
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          aborted = signal.reason;
          await new Promise(() => {}); // ignores its signal: never returns
        },
      },
    });
    const task = await ctx.client.tasks.create.mutate({ task_type_id: type.id });
    await started.opened;
    await worker.stop();
    expect(String(aborted)).toMatch(/the worker stopped/);
    expect(await ctx.client.tasks.get.query({ task_id: task.id })).toMatchObject({
      status: 'pending',
      attempts: 1,
      error_message: 'The worker stopped before the handler finished (shutdownTimeoutMs)',
    });
    expect(entries.map((e) => e.message)).toContain('worker stopped');
  });
});
