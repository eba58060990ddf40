import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import pkg from '../package.json' with { type: 'json' };
import { appRouter, procedureMeta } from './root.js';

type Operation = { responses?: Record<string, { description?: string; content?: unknown }>; security?: unknown };

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request cannot be carried out in the current state (e.g. an inactive task type).',
  401: 'No valid API token (when tokens are required).',
  403: 'The token’s scopes do not allow this operation.',
  404: 'Not found.',
  409: 'Conflict with an existing resource.',
  422: 'Validation failed: `detail` lists each problem with its location (`loc`) and message (`msg`).',
  500: 'Internal server error.',
};

/**
 * The OpenAPI 3.1 document of the REST API, generated from the router's procedures and zod
 * schemas, then corrected where trpc-to-openapi's defaults differ from what the server sends:
 * success statuses (201, 204) and the `{"detail": ...}` error body.
 */
export function buildOpenApiDocument(): OpenAPIObject {
  const doc = generateOpenApiDocument(appRouter, {
    title: 'PrismQ Task API',
    description:
      'Task type registry and task list for microservices. Every operation is also a tRPC procedure at `/trpc`.',
    version: pkg.version,
    baseUrl: '/api',
    tags: ['TaskTypes', 'Tasks'],
    securitySchemes: {},
  });

  const successStatus = new Map<string, number>();
  for (const meta of procedureMeta.values()) {
    if (meta.openapi && meta.successStatus) {
      successStatus.set(`${meta.openapi.method.toLowerCase()} ${meta.openapi.path}`, meta.successStatus);
    }
  }

  doc.components ??= {};
  // trpc-to-openapi's own error shapes are replaced by `Error` below.
  const schemas = Object.fromEntries(Object.entries(doc.components.schemas ?? {}).filter(([name]) => !name.startsWith('error.')));
  doc.components.schemas = {
    ...schemas,
    ValidationProblem: {
      type: 'object',
      required: ['loc', 'msg', 'type'],
      properties: {
        loc: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] }, example: ['body', 'priority'] },
        msg: { type: 'string', example: 'must be between 1 and 1000' },
        type: { type: 'string', example: 'too_big' },
      },
    },
    Error: {
      type: 'object',
      required: ['detail'],
      properties: {
        detail: {
          anyOf: [{ type: 'string', example: 'Task 999 not found' }, { type: 'array', items: { $ref: '#/components/schemas/ValidationProblem' } }],
        },
      },
    },
  };
  doc.components.securitySchemes = {
    bearerAuth: {
      type: 'http',
      scheme: 'bearer',
      description: 'An API token from `pnpm tokens create`. Required once a token exists, or when the server is not on loopback.',
    },
  };

  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
      // A token, when the server requires one.
      op.security = [{ bearerAuth: [] }, {}];
      const responses: NonNullable<Operation['responses']> = {};
      const withAuth: NonNullable<Operation['responses']> = { ...op.responses, 401: {}, 403: {} };
      for (const [code, response] of Object.entries(withAuth)) {
        const status = Number(code);
        if (status >= 400 || code === 'default') {
          responses[code] = {
            description: ERROR_DESCRIPTIONS[status] ?? response.description ?? 'Error',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          };
        } else if (status === 200) {
          const actual = successStatus.get(`${method} ${path}`) ?? 200;
          responses[String(actual)] =
            actual === 204 ? { description: 'Done; no content.' } : { ...response, description: response.description ?? 'OK' };
        } else {
          responses[code] = response;
        }
      }
      op.responses = responses;
    }
  }
  return doc;
}
