/**
 * Vitest global setup: decides once per run whether the PostgreSQL tests run (see ./postgres.ts).
 * Unreachable: with CI set, the run fails; otherwise they are skipped, with one message.
 */
import type { TestProject } from 'vitest/node';
import { describeUrl } from '../postgres/storage.js';
import { TEST_POSTGRES_URL, unreachable } from './postgres-server.js';

export default async function setup(project: TestProject): Promise<void> {
  const why = await unreachable(TEST_POSTGRES_URL);
  const where = describeUrl(TEST_POSTGRES_URL);
  if (why && process.env.CI) {
    throw new Error(
      `PostgreSQL not reachable at ${where} (${why}): CI runs the PostgreSQL tests, so they fail. ` +
        'Start PostgreSQL there, or set PRISMQ_TEST_POSTGRES_URL to one that runs.',
    );
  }
  if (why) process.stderr.write(`PostgreSQL not reachable at ${where} (${why}): the PostgreSQL tests are skipped\n`);
  project.provide('postgresUrl', why ? null : TEST_POSTGRES_URL);
}
