/** The task types of this service, defined once: the producer and the worker import them. */
import { defineTaskType } from '@prismq/client';
import { z } from 'zod';

export const sendEmail = defineTaskType('send_email', {
  parameters: z.object({
    to: z.email(),
    subject: z.string().min(1).max(200),
    copies: z.int().min(1).max(10).default(1),
  }),
  result: z.object({ messageId: z.string() }),
  description: 'Sends one email',
  max_attempts: 5,
});
