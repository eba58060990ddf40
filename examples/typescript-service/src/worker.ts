/**
 * `pnpm --filter @prismq/example-typescript-service worker`: works send_email tasks until SIGTERM
 * or Ctrl-C, then finishes what it holds and exits.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createWorker } from '@prismq/client/worker';
import { sendEmail } from './task-types.js';

const worker = createWorker({
  url: process.env.PRISMQ_URL ?? 'http://127.0.0.1:8000',
  token: process.env.PRISMQ_TOKEN,
  taskTypes: [sendEmail],
  concurrency: 4,
  shutdownTimeoutMs: 25_000,
  handlers: {
    // task.parameters is { to: string; subject: string; copies: number }, parsed: copies has its default.
    send_email: async (task, { signal, progress }) => {
      progress(50, `sending ${task.parameters.copies} to ${task.parameters.to}`);
      await sleep(50, undefined, { signal }); // stands for the mail server's answer
      return { messageId: `${randomUUID()}@example.com` }; // checked against the result schema
    },
  },
});

await worker.stopped;
