/**
 * `pnpm --filter @prismq/example-typescript-service producer ada@example.com grace@example.com`:
 * registers the task types, creates one send_email task per address and prints each result.
 */
import { createPrismqClient, createTaskClient, ValidationError } from '@prismq/client';
import { sendEmail } from './task-types.js';

const prismq = createPrismqClient({ url: process.env.PRISMQ_URL ?? 'http://127.0.0.1:8000', token: process.env.PRISMQ_TOKEN });
const tasks = createTaskClient(prismq, [sendEmail]);

for (const { name, outcome } of await tasks.register()) console.log(`task type ${name}: ${outcome}`);

const addresses = process.argv.slice(2);
for (const to of addresses) {
  try {
    const task = await tasks.create('send_email', { to, subject: 'Hello from PrismQ' }, { priority: 10 });
    const done = await tasks.waitForResult('send_email', task, { timeoutMs: 60_000 });
    console.log(`task ${done.id} to ${done.parameters.to}: ${done.status} ${done.result?.messageId ?? done.error_message}`);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    console.log(`${to}: refused: ${error.problems.map((p) => `${p.loc.slice(1).join('.')}: ${p.msg}`).join('; ')}`);
  }
}
