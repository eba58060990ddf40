/**
 * A worker process for the multi-process tests: `worker-process.fixture.ts <url> <type> <concurrency>`.
 * Prints `done <task id>` for every task its handler ran, and drains and exits on SIGTERM.
 */
import { createWorker } from './worker.js';

const [url, typeName, concurrency] = process.argv.slice(2);
createWorker({
  url: url!,
  concurrency: Number(concurrency),
  leaseSeconds: 30,
  waitSeconds: 5,
  handlers: {
    [typeName!]: async (task) => {
      await new Promise((resolve) => setImmediate(resolve));
      process.stdout.write(`done ${task.id}\n`);
      return { by: process.pid };
    },
  },
  onError: (error) => process.stderr.write(`worker error: ${String(error)}\n`),
});
process.stdout.write('ready\n');
