/**
 * Property-based fuzzing of every REST operation and of the tRPC endpoint, over real HTTP.
 *
 * Requests go out through node:http (not fetch) so that paths, headers and bodies reach the
 * server byte for byte: raw Latin-1 and invalid UTF-8, percent-encoded junk, dot segments, lone
 * surrogates, chunked bodies. Every property asserts the same contract:
 *   - no answer is a 5xx,
 *   - a 4xx JSON answer under /api carries `detail`,
 *   - the server keeps answering (GET /healthz is 200 after every request),
 * and the last test checks that the database is intact and that Object.prototype is clean.
 *
 * No seed is fixed: fast-check prints the seed and the shrunk counterexample of a failure, and
 * `fc.assert(..., { seed, path })` replays it.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './testing.js';

// ---------------------------------------------------------------------------------------------
// HTTP

interface FuzzRequest {
  method: string;
  /** Sent byte for byte (Latin-1) up to U+00FF; characters beyond are percent-encoded. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Send the body with Transfer-Encoding: chunked instead of a Content-Length. */
  chunked?: boolean;
}

interface FuzzResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
}

const BODY_LIMIT = 1024 * 1024;
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

/** Lone surrogates become U+FFFD: encodeURIComponent throws on them. */
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
const encode = (s: string) => encodeURIComponent(wellFormed(s));

const REQUEST_TIMEOUT_MS = 15_000;

let server: TestServer;
let port: number;
const agent = new Agent({ keepAlive: false });

function send(req: FuzzRequest): Promise<FuzzResponse> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? Buffer.from(req.body, 'utf8') : Buffer.from(req.body);
    const headers: Record<string, string> = { ...req.headers };
    if (body !== undefined) {
      // node:http frames a GET or DELETE body only when told to: say so, or it goes out unframed.
      if (req.chunked) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = String(body.length);
    }
    let answered = false;
    // node:http refuses characters above U+00FF (and controls) in a path: those go percent-encoded.
    const path = req.path.replace(/[^\x21-\xff]/gu, (ch) => encodeURIComponent(wellFormed(ch)));
    const outgoing = httpRequest({ host: '127.0.0.1', port, method: req.method, path, headers, agent }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    // The server may answer (413) and close before it has read the whole body: that is fine.
    outgoing.on('error', (error) => {
      if (!answered) reject(new Error(`no answer to ${describeRequest(req)}: ${error.message}`));
    });
    outgoing.setTimeout(REQUEST_TIMEOUT_MS, () => outgoing.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    if (body !== undefined && req.chunked) {
      outgoing.write(body);
      outgoing.end();
    } else {
      outgoing.end(body);
    }
  });
}

const stats = {
  requests: 0,
  healthChecks: 0,
  byStatus: new Map<number, number>(),
  /** 4xx answers under /api that are not JSON (so the `detail` rule does not apply), by status. */
  nonJson4xxOnApi: new Map<number, number>(),
};
const started = Date.now();

const preview = (value: string | Uint8Array | undefined, max = 400): string => {
  if (value === undefined) return '(none)';
  const text = typeof value === 'string' ? value : `<bytes ${Buffer.from(value).toString('hex').slice(0, max)}>`;
  // Escaped beyond printable ASCII, so that a C1 control or a soft hyphen in a path shows.
  const shown = (t: string) => JSON.stringify(t).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > max ? `${shown(text.slice(0, max))}… (${text.length} chars)` : shown(text);
};

function describeRequest(req: FuzzRequest, res?: FuzzResponse): string {
  const size = req.body === undefined ? 0 : typeof req.body === 'string' ? Buffer.byteLength(req.body) : req.body.length;
  const answer = res ? ` -> ${res.status} ${preview(res.text, 300)}` : '';
  return `${req.method} ${preview(req.path, 300)} headers=${JSON.stringify(req.headers ?? {})}${req.chunked ? ' (chunked)' : ''} body[${size} bytes]=${preview(req.body)}${answer}`;
}

const isApi = (path: string) => /^\/api(?:[/?#]|$)/.test(path);
const isJson = (res: FuzzResponse) => /json/i.test(String(res.headers['content-type'] ?? ''));

/** Keeps the leases that claims hand out, so that heartbeat, complete and fail sometimes hold one. */
interface HeldLease {
  task_id: number;
  worker_id: string;
  lease_id: string;
}
const leases: HeldLease[] = [];

function harvestLeases(res: FuzzResponse): void {
  const data = (res.json as { result?: { data?: unknown } } | undefined)?.result?.data ?? res.json;
  if (res.status !== 200 || !Array.isArray(data)) return;
  for (const task of data as Partial<HeldLease & { id: number; status: string }>[]) {
    if (task?.status === 'running' && typeof task.id === 'number' && typeof task.lease_id === 'string' && typeof task.worker_id === 'string') {
      leases.push({ task_id: task.id, worker_id: task.worker_id, lease_id: task.lease_id });
    }
  }
  if (leases.length > 64) leases.splice(0, leases.length - 64);
}

async function expectAlive(): Promise<void> {
  stats.healthChecks++;
  const res = await send({ method: 'GET', path: '/healthz' });
  expect(res.status, 'GET /healthz after the last request').toBe(200);
}

/**
 * FUZZ_COLLECT=1 turns the fail-fast properties into a survey: violations are counted and the
 * smallest example of each kind is printed at the end, so that one run shows every distinct
 * problem. Without it (the default) the first violation fails the property and gets shrunk.
 */
const COLLECT = process.env.FUZZ_COLLECT === '1';
const violations = new Map<string, { count: number; size: number; example: string }>();

/** `kind` names the violation; a 5xx is told apart by its route, a 4xx by the error it carries. */
function verify(kind: string, req: FuzzRequest, res: FuzzResponse, check: () => void): void {
  if (!COLLECT) return check();
  try {
    check();
  } catch (error) {
    const route = req.path.split('?')[0]!.replace(/\/\d+(?=\/|$)/g, '/{n}').slice(0, 60);
    const body = res.json as { code?: unknown; message?: unknown } | undefined;
    const what = res.status >= 500 ? `${req.method} ${route}` : `${String(body?.code ?? '')} ${String(body?.message ?? res.text.slice(0, 40)).replace(/'[^']*'/g, '…')}`;
    const key = `${kind} | ${what}`;
    const size = req.path.length + (req.body?.length ?? 0);
    const seen = violations.get(key);
    const example = (error as Error).message.split('\n')[0]!;
    if (!seen) violations.set(key, { count: 1, size, example });
    else {
      seen.count++;
      if (size < seen.size) Object.assign(seen, { size, example });
    }
  }
}

/**
 * A claim whose wait_seconds would make it long-poll (up to 30 s) gets wait_seconds 0 instead:
 * generators avoid such values, but a random key can still land on one. Batches are looked into.
 */
function withoutLongPoll(req: FuzzRequest): FuzzRequest {
  if (!req.path.includes('claim') || typeof req.body !== 'string') return req;
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body);
  } catch {
    return req;
  }
  let changed = false;
  const inputs = parsed && typeof parsed === 'object' ? [parsed, ...Object.values(parsed)] : [];
  for (const input of inputs as Record<string, unknown>[]) {
    if (input && typeof input === 'object' && typeof input.wait_seconds === 'number' && input.wait_seconds > 0.05) {
      input.wait_seconds = 0;
      changed = true;
    }
  }
  return changed ? { ...req, body: JSON.stringify(parsed) } : req;
}

/** Sends one fuzzed request and checks the contract; `expectStatus` pins the status when it is known. */
async function exchange(fuzzed: FuzzRequest, expectStatus?: number): Promise<FuzzResponse> {
  const req = withoutLongPoll(fuzzed);
  const res = await send(req);
  stats.requests++;
  stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
  const where = describeRequest(req, res);
  verify(`status ${res.status}`, req, res, () => expect(res.status, where).toBeLessThan(500));
  if (expectStatus !== undefined) verify(`status ${res.status} not ${expectStatus}`, req, res, () => expect(res.status, where).toBe(expectStatus));
  if (isApi(req.path) && res.status >= 400 && res.status < 500 && req.method !== 'HEAD') {
    if (isJson(res)) {
      verify(`${res.status} without detail`, req, res, () => {
        expect(res.json, where).toBeTypeOf('object');
        expect(res.json, where).not.toBeNull();
        expect(res.json as object, where).toHaveProperty('detail');
      });
    } else {
      stats.nonJson4xxOnApi.set(res.status, (stats.nonJson4xxOnApi.get(res.status) ?? 0) + 1);
    }
  }
  harvestLeases(res);
  expect(Object.getOwnPropertyNames(Object.prototype).sort(), where).toEqual(PROTOTYPE_KEYS);
  expect(({} as Record<string, unknown>).polluted, where).toBeUndefined();
  await expectAlive();
  return res;
}

// ---------------------------------------------------------------------------------------------
// Values, as JSON text (so that -0, 1e309, 2**53+1 and "\ud800" reach the server as written)

const FIELD_NAMES = [
  'name', 'description', 'parameters_schema', 'metadata', 'is_active', 'max_attempts', 'retry_base_seconds',
  'retry_max_seconds', 'task_type_id', 'task_id', 'parameters', 'priority', 'run_at', 'delay_seconds',
  'idempotency_key', 'tasks', 'worker_id', 'lease_id', 'task_type_ids', 'task_types', 'limit', 'lease_seconds',
  'wait_seconds', 'result', 'error_message', 'retry', 'status', 'include_inactive', 'id',
];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];

const NUMBER_LITERALS = [
  '0', '-0', '0.0', '-0.0', '1', '-1', '1.5', '-1.5', '0.1', '1e308', '-1e308', '1e309', '-1e309', '1.7976931348623157e308',
  '4.9e-324', '5e-324', '1e-400', '-1e-7', '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993',
  '18446744073709551616', '123456789012345678901234567890', '1E2', '1e+2', '1.0', '100.0', '1000.0000000000001',
  '999.99999999999999999', '3600.0000000000001', '30.000000000000004', '2147483648', '-2147483649', '1'.repeat(400),
];

const STRING_SPECIALS = [
  '""', '" "', '"\\u0000"', '"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\udfff\\ud800"', '"\\ud83d\\udca5"', '"💥"',
  '"👩‍👩‍👧‍👦"', '"\\u202e\\u0644"', '"\\ufeff"', '"\\uffff"', '"é"', '"\\/"', '"\\t\\n\\r"', '"null"', '"true"', '"1"', '"-0"',
  '"1e308"', '"pending"', '"running"', '"completed"', '"failed"', '"cancelled"', '"2024-02-30T00:00:00Z"',
  '"9999-12-31T23:59:59-23:59"', '"0000-01-01T00:00:00+01:00"', '"2024-01-01T00:00:00.123456789Z"', '"%00"', '"../../etc/passwd"',
  '"\'; DROP TABLE task_list; --"', '"<script>"', '"${x}"', '"__proto__"',
];

const stringLiteral: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }).map((s) => JSON.stringify(s)),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.constantFrom(...STRING_SPECIALS),
  fc.constantFrom(...FIELD_NAMES).map((s) => JSON.stringify(s)),
);

const numberLiteral: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NUMBER_LITERALS),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

const keyLiteral: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FIELD_NAMES).map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.constantFrom(...PROTO_KEYS).map((s) => JSON.stringify(s)) },
  { weight: 3, arbitrary: stringLiteral },
);

/** Any JSON value, as text; numbers and strings come from the edge-case lists above. */
const { value: jsonText } = fc.letrec<{ value: string; leaf: string; array: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, tie('leaf'), tie('array'), tie('object')),
  leaf: fc.oneof(fc.constantFrom('null', 'true', 'false'), numberLiteral, stringLiteral),
  array: fc.array(tie('value'), { maxLength: 5 }).map((items) => `[${items.join(',')}]`),
  object: fc.array(fc.tuple(keyLiteral, tie('value')), { maxLength: 5 }).map(objectText),
}));

function objectText(entries: readonly (readonly [string, string])[]): string {
  return `{${entries.map(([key, value]) => `${key}:${value}`).join(',')}}`;
}

/** A JSON object, as text, from fast-check's own JSON generators or the edge-case one. */
const jsonObjectText: fc.Arbitrary<string> = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }).map((o) => JSON.stringify(o)),
  fc.array(fc.tuple(keyLiteral, jsonText), { maxLength: 5 }).map(objectText),
);

/** Any JSON document at all, top level included: fc.json, fc.jsonValue and the edge-case one. */
const anyJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  jsonText,
  jsonObjectText,
);

/** A value of the wrong type (or range) for most fields. */
const wrongValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('null', 'true', 'false', '""', '"1"', '"abc"', '[]', '{}', '[1]', '{"a":1}', '[null]', '{"__proto__":{"polluted":"yes"}}'),
  fc.constantFrom(...NUMBER_LITERALS),
  jsonText,
);

const str = (min: number, max: number) => fc.string({ minLength: min, maxLength: max }).map((s) => JSON.stringify(s));
const int = (min: number, max: number) => fc.integer({ min, max }).map(String);
const num = (min: number, max: number) => fc.double({ min, max, noNaN: true }).map((n) => JSON.stringify(n));

/** Small JSON Schemas, including $id/$ref between schemas and patterns, as JSON text. */
const SCHEMA_URIS = ['http://fuzz.example/a', 'http://fuzz.example/b', 'urn:uuid:00000000-0000-0000-0000-000000000001'];
const { node: jsonSchemaValue } = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.constant({}),
    fc.boolean(),
    fc.record({ type: fc.constantFrom('object', 'string', 'number', 'integer', 'array', 'boolean', 'null', 'bogus') }),
    fc.record({ $id: fc.constantFrom(...SCHEMA_URIS), type: fc.constantFrom('object', 'string') }, { requiredKeys: ['$id'] }),
    fc.record({ $ref: fc.constantFrom(...SCHEMA_URIS, '#', '#/definitions/x', '#/nowhere', 'http://fuzz.example/missing') }),
    fc.record({ type: fc.constant('object'), properties: fc.dictionary(fc.constantFrom('n', 's', 'a'), tie('node'), { maxKeys: 3 }) }),
    fc.record({ required: fc.array(fc.constantFrom('n', 's', '__proto__'), { maxLength: 2 }) }),
    fc.record({ pattern: fc.constantFrom('^a', '(', '[', '\\p{L}', 'a{2,1}', '^[0-9]+$') }),
    fc.record({ format: fc.constantFrom('date-time', 'email', 'uri', 'regex', 'bogus') }),
    fc.record({ minimum: fc.double({ noNaN: true }), maxLength: fc.nat(10) }, { requiredKeys: [] }),
    fc.record({ not: tie('node') }),
    fc.record({ items: tie('node') }),
    fc.record({ anyOf: fc.array(tie('node'), { minLength: 1, maxLength: 2 }) }),
    fc.record({ definitions: fc.record({ x: tie('node') }), $ref: fc.constant('#/definitions/x') }),
    fc.record({ additionalProperties: fc.oneof(fc.boolean(), tie('node')) }),
    fc.record({ enum: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }) }),
    fc.record({ $schema: fc.constantFrom('http://json-schema.org/draft-07/schema#', 'http://example.com/unknown') }),
  ),
}));
const jsonSchemaText = jsonSchemaValue.map((schema) => JSON.stringify(typeof schema === 'boolean' ? { not: schema } : schema));

// ---------------------------------------------------------------------------------------------
// Operations

interface Field {
  /** A valid value, as JSON text. */
  valid: fc.Arbitrary<string>;
  /** A wrong value; `wrongValue` unless the field needs care (wait_seconds must not wait long). */
  wrong?: fc.Arbitrary<string>;
  required?: boolean;
  kind?: 'number' | 'text' | 'json';
}

interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The REST route; `{id}` is the path parameter. */
  route: string;
  procedure: string;
  type: 'query' | 'mutation';
  idField?: 'task_id' | 'task_type_id';
  /** Body fields (query fields for GET and DELETE). */
  fields: Record<string, Field>;
  /** Heartbeat, complete and fail: sometimes sent with a lease that a claim handed out. */
  leased?: boolean;
}

const statusText = fc.constantFrom('"pending"', '"running"', '"completed"', '"failed"', '"cancelled"');
const typeIdText = int(1, 40);
const isoText = fc.oneof(
  fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => JSON.stringify(d.toISOString())),
  fc.constantFrom('"2024-01-01T00:00:00+05:30"', '"2024-02-29T23:59:59.999999Z"', '"9999-12-31T23:59:59-23:59"', '"0000-01-01T00:00:00+23:59"'),
);
/** wait_seconds: valid values never wait long, wrong ones are out of range or of another type. */
const waitValid = fc.constantFrom('0', '-0', '0.0', '0.01');
const waitWrong = fc.constantFrom('-1', '30.000001', '1e308', '9007199254740993', '"0"', '"1"', 'null', 'true', '[]', '{}', '[0]');

const retryPolicy: Record<string, Field> = {
  max_attempts: { valid: int(1, 100), kind: 'number' },
  retry_base_seconds: { valid: num(0, 86_400), kind: 'number' },
  retry_max_seconds: { valid: num(0, 604_800), kind: 'number' },
};

const taskCreateFields: Record<string, Field> = {
  task_type_id: { valid: typeIdText, required: true, kind: 'number' },
  parameters: { valid: fc.oneof(jsonObjectText, fc.record({ n: fc.integer(), s: fc.string({ maxLength: 10 }) }).map((o) => JSON.stringify(o))), kind: 'json' },
  priority: { valid: int(1, 1000), kind: 'number' },
  metadata: { valid: jsonObjectText, kind: 'json' },
  run_at: { valid: isoText, kind: 'text' },
  delay_seconds: { valid: num(0, 31_536_000), kind: 'number' },
  max_attempts: { valid: int(1, 100), kind: 'number' },
  idempotency_key: { valid: fc.oneof(str(1, 20), fc.constantFrom('"k1"', '"k2"')), kind: 'text' },
};

const leaseFields: Record<string, Field> = {
  worker_id: { valid: fc.oneof(str(1, 20), fc.constant('"fuzz-worker"')), required: true, kind: 'text' },
  lease_id: { valid: fc.oneof(str(1, 40), fc.stringMatching(/^[0-9a-f]{32}$/).map((s) => JSON.stringify(s))), required: true, kind: 'text' },
};

const OPERATIONS: Operation[] = [
  {
    method: 'POST',
    route: '/api/task-types',
    procedure: 'taskTypes.create',
    type: 'mutation',
    fields: {
      name: { valid: fc.oneof(str(1, 30), fc.constantFrom('"fuzz_plain"', '"x"')), required: true, kind: 'text' },
      description: { valid: fc.oneof(str(0, 50), fc.constant('null')), kind: 'text' },
      parameters_schema: { valid: jsonSchemaText, kind: 'json' },
      metadata: { valid: jsonObjectText, kind: 'json' },
      ...retryPolicy,
    },
  },
  {
    method: 'GET',
    route: '/api/task-types',
    procedure: 'taskTypes.list',
    type: 'query',
    fields: { include_inactive: { valid: fc.constantFrom('true', 'false', '"yes"', '"off"', '"1"', '"0"') } },
  },
  { method: 'GET', route: '/api/task-types/{id}', procedure: 'taskTypes.get', type: 'query', idField: 'task_type_id', fields: {} },
  {
    method: 'PUT',
    route: '/api/task-types/{id}',
    procedure: 'taskTypes.update',
    type: 'mutation',
    idField: 'task_type_id',
    fields: {
      description: { valid: fc.oneof(str(0, 50), fc.constant('null')), kind: 'text' },
      parameters_schema: { valid: jsonSchemaText, kind: 'json' },
      metadata: { valid: jsonObjectText, kind: 'json' },
      is_active: { valid: fc.constantFrom('true', 'false') },
      ...retryPolicy,
    },
  },
  { method: 'DELETE', route: '/api/task-types/{id}', procedure: 'taskTypes.delete', type: 'mutation', idField: 'task_type_id', fields: {} },
  { method: 'POST', route: '/api/tasks', procedure: 'tasks.create', type: 'mutation', fields: taskCreateFields },
  {
    method: 'GET',
    route: '/api/tasks',
    procedure: 'tasks.list',
    type: 'query',
    fields: {
      task_type_id: { valid: typeIdText, kind: 'number' },
      status: { valid: statusText, kind: 'text' },
      limit: { valid: int(1, 1000), kind: 'number' },
    },
  },
  { method: 'GET', route: '/api/tasks/{id}', procedure: 'tasks.get', type: 'query', idField: 'task_id', fields: {} },
  { method: 'GET', route: '/api/tasks/{id}/attempts', procedure: 'tasks.attempts', type: 'query', idField: 'task_id', fields: {} },
  {
    method: 'PUT',
    route: '/api/tasks/{id}',
    procedure: 'tasks.update',
    type: 'mutation',
    idField: 'task_id',
    fields: {
      status: { valid: statusText, kind: 'text' },
      priority: { valid: int(1, 1000), kind: 'number' },
      parameters: { valid: jsonObjectText, kind: 'json' },
      metadata: { valid: jsonObjectText, kind: 'json' },
      result: { valid: anyJsonText, kind: 'json' },
      error_message: { valid: fc.oneof(str(0, 50), fc.constant('null')), kind: 'text' },
    },
  },
  { method: 'DELETE', route: '/api/tasks/{id}', procedure: 'tasks.delete', type: 'mutation', idField: 'task_id', fields: {} },
  {
    method: 'POST',
    route: '/api/tasks/batch',
    procedure: 'tasks.createBatch',
    type: 'mutation',
    fields: {
      tasks: {
        valid: fc
          .array(
            fc.record({ task_type_id: fc.integer({ min: 1, max: 8 }), priority: fc.integer({ min: 1, max: 1000 }), parameters: fc.constant({}) }, { requiredKeys: ['task_type_id'] }),
            { minLength: 1, maxLength: 4 },
          )
          .map((tasks) => JSON.stringify(tasks)),
        wrong: fc.oneof(wrongValue, fc.array(wrongValue, { maxLength: 3 }).map((items) => `[${items.join(',')}]`)),
        required: true,
        kind: 'json',
      },
    },
  },
  {
    method: 'POST',
    route: '/api/tasks/claim',
    procedure: 'tasks.claim',
    type: 'mutation',
    fields: {
      worker_id: leaseFields.worker_id!,
      task_type_ids: { valid: fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 4 }).map((a) => JSON.stringify(a)), kind: 'json' },
      task_types: { valid: fc.array(fc.constantFrom('fuzz_plain', 'fuzz_schema', 'nope', ''), { maxLength: 3 }).map((a) => JSON.stringify(a)), kind: 'json' },
      limit: { valid: int(1, 5), kind: 'number' },
      lease_seconds: { valid: num(1, 3600), kind: 'number' },
      wait_seconds: { valid: waitValid, wrong: waitWrong, kind: 'number' },
    },
  },
  {
    method: 'POST',
    route: '/api/tasks/{id}/heartbeat',
    procedure: 'tasks.heartbeat',
    type: 'mutation',
    idField: 'task_id',
    leased: true,
    fields: {
      ...leaseFields,
      lease_seconds: { valid: num(1, 3600), kind: 'number' },
      progress: { valid: num(0, 100), kind: 'number' },
      message: { valid: str(0, 60), kind: 'text' },
    },
  },
  {
    method: 'POST',
    route: '/api/tasks/{id}/complete',
    procedure: 'tasks.complete',
    type: 'mutation',
    idField: 'task_id',
    leased: true,
    fields: { ...leaseFields, result: { valid: anyJsonText, kind: 'json' } },
  },
  {
    method: 'POST',
    route: '/api/tasks/{id}/fail',
    procedure: 'tasks.fail',
    type: 'mutation',
    idField: 'task_id',
    leased: true,
    fields: { ...leaseFields, error_message: { valid: str(1, 60), required: true, kind: 'text' }, retry: { valid: fc.constantFrom('true', 'false') } },
  },
  { method: 'POST', route: '/api/tasks/{id}/cancel', procedure: 'tasks.cancel', type: 'mutation', idField: 'task_id', fields: {} },
  { method: 'POST', route: '/api/tasks/{id}/retry', procedure: 'tasks.retry', type: 'mutation', idField: 'task_id', fields: {} },
];

// Counterexamples print an operation as its route, not as the arbitraries inside it.
for (const op of OPERATIONS) Object.defineProperty(op, fc.toStringMethod, { value: () => `${op.method} ${op.route}` });

const BODY_OPERATIONS = OPERATIONS.filter((op) => op.method === 'POST' || op.method === 'PUT');
const JSON_FIELD_OPERATIONS = OPERATIONS.filter((op) => Object.values(op.fields).some((f) => f.kind === 'json'));
const TEXT_FIELD_OPERATIONS = OPERATIONS.filter((op) => Object.values(op.fields).some((f) => f.kind === 'text'));

// ---------------------------------------------------------------------------------------------
// Paths and query strings

const hex = (b: number) => b.toString(16).padStart(2, '0');

/** Characters node:http sends as is in a path (0x21-0xFF), minus the ones that end a segment. */
const latin1Char = fc.integer({ min: 0x21, max: 0xff }).filter((c) => c !== 0x2f && c !== 0x3f && c !== 0x23).map((c) => String.fromCharCode(c));

/** Characters node:http accepts in a header value (it refuses DEL and controls). */
const headerChar = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));

const junkSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '0', '-0', '-1', '00001', '1.0', '1.5', '1e3', '1e308', '-1e308', '1e309', 'Infinity', '-Infinity', 'NaN', '0x10', '0b1', '0o7',
    '9007199254740991', '9007199254740992', '9007199254740993', '18446744073709551617', '+1', '%2B1', '%201', '1%20', '%09',
    '%00', '%', '%%', '%zz', '%E0%A4%A', '%C3%28', '%FF%FE', '%ED%A0%80', '%F0%9F%92%A5', '💥', '%2e%2e', '..', '.', '%2F', '1%2F2',
    'null', 'undefined', 'true', '[]', '{}', '__proto__', 'constructor', 'prototype', ' 1', '1;drop', "1'", '1"', '\u00ff', 'é',
  ),
  fc.integer().map(String),
  fc.integer({ min: 1, max: 25 }).map(String),
  fc.double().map(String),
  fc.bigInt().map(String),
  fc.string({ unit: 'binary', maxLength: 12 }).map(encode),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => [...bytes].map((b) => `%${hex(b)}`).join('')),
  fc.string({ unit: latin1Char, minLength: 1, maxLength: 12 }),
  // Long segments: up to 30 000 characters, past Node's 16 KiB header limit (431).
  fc.integer({ min: 256, max: 30_000 }).chain((n) => fc.constantFrom('1'.repeat(n), 'a'.repeat(n), '%41'.repeat(Math.ceil(n / 3)))),
);

/** A path id: mostly a real row (1..25), else junk. */
const idSegment: fc.Arbitrary<string> = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 25 }).map(String) }, { weight: 2, arbitrary: junkSegment });

/** Text that node:http accepts in a path: percent-encodes what it would refuse. */
const pathSafe = (s: string) => (/^[\x21-\xff]*$/.test(s) ? s : encode(s));

const QUERY_KEYS = [
  'limit', 'status', 'task_type_id', 'include_inactive', 'input', 'batch', 'limit[]', 'status[0]', 'limit[a]', '__proto__',
  '__proto__[polluted]', 'constructor[prototype][polluted]', 'constructor', 'prototype', '', '=', '&',
];
const queryValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NUMBER_LITERALS, 'pending', 'PENDING', 'done', 'true', 'false', 'yes', 'no', 'on', 'off', '', '%', '%zz', '%00', '[1,2]', '{}', 'yes'),
  fc.integer().map(String),
  fc.string({ unit: 'binary', maxLength: 16 }).map(encode),
  fc.string({ unit: latin1Char, maxLength: 16 }),
  fc.integer({ min: 100, max: 20_000 }).map((n) => 'x'.repeat(n)),
);
const queryKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...QUERY_KEYS),
  fc.string({ unit: 'binary', maxLength: 10 }).map(encode),
  fc.string({ unit: latin1Char, maxLength: 8 }),
);
const queryString: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.tuple(queryKey, fc.option(queryValue, { nil: undefined })), { maxLength: 8 }).map(
    (pairs) => `?${pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&')}`,
  ),
  fc.constantFrom('?', '??', '?&&&', '?=', '?==', '?&=&', '?limit=1&limit=2', '?limit=5&limit=5', '?status=pending&status=running', '?;', '?#x'),
);

// ---------------------------------------------------------------------------------------------
// Calls: an operation, a path id and body fields, sent over REST or tRPC

interface Call {
  op: Operation;
  id: string;
  /** Body (or query) entries: [key, value], both JSON text. */
  entries: [string, string][];
}

const fieldValue = (field: Field, wrongOdds = 1): fc.Arbitrary<string> =>
  fc.oneof({ weight: 4, arbitrary: field.valid }, { weight: wrongOdds, arbitrary: field.wrong ?? wrongValue });

/**
 * A call that mostly follows the operation's schema: each field valid, wrong or absent, sometimes
 * an unknown or prototype key; heartbeat, complete and fail sometimes carry a lease held by a claim.
 */
function callArb(op: Operation, wrongOdds = 1): fc.Arbitrary<Call> {
  const fields = Object.entries(op.fields).map(([name, field]) =>
    fc.option(fieldValue(field, wrongOdds).map((value): [string, string] => [JSON.stringify(name), value]), {
      nil: undefined,
      freq: field.required ? 12 : 2,
    }),
  );
  const extras = fc.array(fc.tuple(keyLiteral, jsonText), { maxLength: 2 });
  return fc
    .tuple(idSegment, fc.tuple(...fields), fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: extras }), fc.option(fc.nat(), { freq: 2 }))
    .map(([id, chosen, extra, leaseIndex]) => {
      const entries = [...chosen.filter((e): e is [string, string] => e !== undefined), ...extra];
      const lease = op.leased && leaseIndex !== null && leases.length > 0 ? leases[leaseIndex % leases.length] : undefined;
      if (!lease) return { op, id, entries };
      const held = entries.filter(([k]) => k !== '"worker_id"' && k !== '"lease_id"');
      held.push(['"worker_id"', JSON.stringify(lease.worker_id)], ['"lease_id"', JSON.stringify(lease.lease_id)]);
      return { op, id: String(lease.task_id), entries: held };
    });
}

const anyCall = (wrongOdds = 1, ops = OPERATIONS) => fc.constantFrom(...ops).chain((op) => callArb(op, wrongOdds));

/** A JSON text value as it would appear in a query string. */
function queryText(value: string): string {
  let plain = value;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed === 'string') plain = parsed;
  } catch {
    // not JSON: sent as written
  }
  return encode(plain);
}

function restRequest(call: Call, extra: { headers?: Record<string, string>; query?: string } = {}): FuzzRequest {
  const path = call.op.route.replace('{id}', pathSafe(call.id));
  if (call.op.method === 'GET' || call.op.method === 'DELETE') {
    const query = call.entries.map(([k, v]) => `${queryText(k)}=${queryText(v)}`).join('&');
    return { method: call.op.method, path: path + (extra.query ?? (query ? `?${query}` : '')), headers: extra.headers ?? {} };
  }
  return {
    method: call.op.method,
    path: path + (extra.query ?? ''),
    headers: { 'content-type': 'application/json', ...extra.headers },
    body: objectText(call.entries),
  };
}

/** The tRPC input: the body entries plus the path id, a number when it reads as one. */
function trpcInput(call: Call): string {
  const entries = [...call.entries];
  if (call.op.idField) {
    const id = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(call.id) ? call.id : JSON.stringify(call.id);
    entries.unshift([JSON.stringify(call.op.idField), id]);
  }
  return objectText(entries);
}

function trpcRequest(call: Call, headers: Record<string, string> = {}): FuzzRequest {
  const input = trpcInput(call);
  if (call.op.type === 'query') return { method: 'GET', path: `/trpc/${call.op.procedure}?input=${encode(input)}`, headers };
  return { method: 'POST', path: `/trpc/${call.op.procedure}`, headers: { 'content-type': 'application/json', ...headers }, body: input };
}

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'APPLICATION/JSON', 'application/json; charset=latin1',
  'application/json; charset=utf-16', 'application/json; foo=bar', 'application/json, text/plain', 'text/plain', 'text/json', 'text/html',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/octet-stream', 'application/vnd.api+json',
  'application/json-patch+json', 'application/problem+json', '*/*', 'json', ';;;', '', 'application/json\u00ff', 'application/jsonx',
];
/** Headers that ride along: Authorization, X-Request-Id, Accept, Content-Encoding, tRPC's own. */
const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    authorization: fc.oneof(fc.constantFrom('Bearer', 'Bearer ', 'Bearer x', 'Basic Zm9vOmJhcg==', 'bearer \u00ff', 'Bearer a b'), fc.string({ unit: headerChar, maxLength: 40 })),
    'x-request-id': fc.oneof(fc.uuid(), fc.string({ unit: headerChar, maxLength: 200 })),
    accept: fc.constantFrom('*/*', 'text/html', 'application/xml', 'application/json', 'application/jsonl'),
    'content-encoding': fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'x-junk'),
    'trpc-accept': fc.constantFrom('application/jsonl', 'junk'),
  },
  { requiredKeys: [] },
);

// ---------------------------------------------------------------------------------------------
// Fixtures: real task types, tasks and leases, so that fuzzed ids (1..25) often hit real rows

async function must(method: string, path: string, body?: unknown): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- fixtures read arbitrary JSON
  const res = await server.request(method, path, body);
  if (res.status >= 300) throw new Error(`fixture ${method} ${path} answered ${res.status}: ${res.text}`);
  return res.body;
}

/** Tops up the fixtures: the first types active and plain again, fresh pending tasks and leases. */
async function replenish(): Promise<void> {
  await must('PUT', '/api/task-types/1', { is_active: true, parameters_schema: {} });
  await must('PUT', '/api/task-types/2', { is_active: true });
  for (let i = 0; i < 6; i++) await must('POST', '/api/tasks', { task_type_id: 1, priority: 1 + i });
  // Not `must`: a row that an earlier property broke may make claims fail, and that is its report.
  const claim = await server.request('POST', '/api/tasks/claim', { worker_id: 'fuzz-worker', task_type_ids: [1], limit: 3, lease_seconds: 3600 });
  if (claim.status === 200) harvestLeases({ status: 200, headers: {}, text: claim.text, json: claim.body });
}

beforeAll(async () => {
  server = await startTestServer();
  port = Number(new URL(server.url).port);
  await must('POST', '/api/task-types', { name: 'fuzz_plain' });
  await must('POST', '/api/task-types', {
    name: 'fuzz_schema',
    parameters_schema: { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string', maxLength: 10 } } },
  });
  await must('POST', '/api/task-types', { name: 'fuzz_once', max_attempts: 1, retry_base_seconds: 0, retry_max_seconds: 0 });
  await must('POST', '/api/task-types', { name: 'fuzz_meta', description: 'd', metadata: { team: 'x' } });
  await must('POST', '/api/task-types', { name: 'fuzz_retired' });
  for (let i = 0; i < 20; i++) {
    await must('POST', '/api/tasks', { task_type_id: 1 + (i % 4), parameters: i % 4 === 1 ? { n: i } : {}, priority: 1 + i, idempotency_key: `fixture-${i}` });
  }
  await must('DELETE', '/api/task-types/5');
  const claimed: { id: number; worker_id: string; lease_id: string }[] = await must('POST', '/api/tasks/claim', {
    worker_id: 'fuzz-worker',
    limit: 8,
    lease_seconds: 3600,
  });
  for (const t of claimed) leases.push({ task_id: t.id, worker_id: t.worker_id, lease_id: t.lease_id });
  const [a, b, c] = leases;
  if (a) await must('POST', `/api/tasks/${a.task_id}/complete`, { worker_id: a.worker_id, lease_id: a.lease_id, result: { ok: true } });
  if (b) await must('POST', `/api/tasks/${b.task_id}/fail`, { worker_id: b.worker_id, lease_id: b.lease_id, error_message: 'boom', retry: false });
  if (c) await must('POST', `/api/tasks/${c.task_id}/cancel`);
});

afterAll(async () => {
  agent.destroy();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const statuses = [...stats.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`).join(' ');
  const nonJson = [...stats.nonJson4xxOnApi].map(([s, n]) => `${s}:${n}`).join(' ') || 'none';
  console.log(
    `fuzz: ${stats.requests} fuzzed requests (+${stats.healthChecks} health checks) in ${seconds} s; statuses ${statuses}; non-JSON 4xx under /api: ${nonJson}`,
  );
  if (COLLECT) {
    const lines = [...violations].map(([key, { count, example }]) => `  ${count}× ${key}\n      e.g. ${example}`);
    console.log(`fuzz: ${violations.size} kinds of violation\n${lines.join('\n')}`);
  }
  await server?.close();
});

// ---------------------------------------------------------------------------------------------
// Properties

const TIMEOUT = 120_000;
const assertProperty = (property: fc.IAsyncPropertyWithHooks<unknown[]> | fc.IAsyncProperty<unknown[]>, numRuns: number) =>
  fc.assert(property, { numRuns, plugins: [fc.interruptAfterTimeLimit(40_000)] });

describe('fuzz: every REST operation over real HTTP', () => {
  beforeAll(replenish);

  it('survives bodies that mostly follow each operation’s schema, with some fields of the wrong type', { timeout: TIMEOUT }, async () => {
    await assertProperty(
      fc.asyncProperty(anyCall(), async (call) => {
        await exchange(restRequest(call));
      }),
      800,
    );
  });

  it('survives huge and odd numbers in every numeric field and path id', { timeout: TIMEOUT }, async () => {
    const numeric = fc.constantFrom(...OPERATIONS).chain((op) =>
      fc.tuple(
        callArb(op),
        fc.oneof(fc.constantFrom(...NUMBER_LITERALS), fc.integer({ min: 1, max: 25 }).map(String)),
        fc.array(fc.constantFrom(...NUMBER_LITERALS), { minLength: 8, maxLength: 8 }),
      ).map(([call, id, numbers]): Call => {
        const numericKeys = Object.entries(op.fields).filter(([, f]) => f.kind === 'number').map(([k]) => JSON.stringify(k));
        const entries = call.entries.filter(([k]) => !numericKeys.includes(k));
        numericKeys.forEach((k, i) => entries.push([k, numbers[i % numbers.length]!]));
        return { op, id, entries };
      }),
    );
    await assertProperty(
      fc.asyncProperty(numeric, fc.boolean(), async (call, viaTrpc) => {
        await exchange(viaTrpc ? trpcRequest(call) : restRequest(call));
      }),
      400,
    );
  });

  it('survives random JSON bodies, content types and headers on every operation', { timeout: TIMEOUT }, async () => {
    await assertProperty(
      fc.asyncProperty(
        fc.constantFrom(...OPERATIONS),
        idSegment,
        anyJsonText,
        fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 3, nil: undefined }),
        extraHeaders,
        fc.boolean(),
        async (op, id, body, contentType, headers, chunked) => {
          const withType = contentType === undefined ? headers : { ...headers, 'content-type': contentType };
          const path = op.route.replace('{id}', pathSafe(id));
          // GET and DELETE get a body too: it should be ignored or refused, never crash anything.
          await exchange({ method: op.method, path, headers: withType, body, chunked });
        },
      ),
      500,
    );
  });

  it('survives fuzzed paths: random ids, junk segments, dot segments, raw Latin-1, very long segments', { timeout: TIMEOUT }, async () => {
    const prefixes = ['/api/tasks/', '/api/task-types/', '/api/tasks/1/', '/api/', '/api/tasks/batch/', '/trpc/', '/', '//api/tasks/', '/api//tasks/', '/API/TASKS/', '/docs/assets/', '/api/openapi.json/'];
    const suffixes = ['', '/', '/heartbeat', '/complete', '/fail', '/cancel', '/retry', '/claim', '/x', '//', '/..', '/%2e%2e/1', '/1/2/3'];
    const path = fc.oneof(
      fc.tuple(fc.constantFrom(...prefixes), junkSegment, fc.constantFrom(...suffixes)).map(([p, seg, s]) => p + seg + s),
      fc.tuple(fc.constantFrom(...OPERATIONS), junkSegment).map(([op, seg]) => op.route.replace('{id}', seg)),
      fc.constantFrom('/api', '/api/', '/api/tasks/', '/api/./tasks', '/api/tasks/1/../2', '/api/tasks/%31', '/api/tasks#frag', '*', '/%', '/api/%zz', '/trpc', '/trpc/', '/trpc/..', '/trpc/tasks.get/x'),
    );
    await assertProperty(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
        path,
        fc.option(anyCall().map((call) => objectText(call.entries)), { nil: undefined }),
        async (method, p, body) => {
          await exchange({ method, path: p, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body });
        },
      ),
      600,
    );
  });

  it('survives fuzzed query strings: random keys and values, repeated keys, wrong types', { timeout: TIMEOUT }, async () => {
    const listHeavy = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...OPERATIONS.filter((op) => op.method === 'GET' || op.method === 'DELETE')) },
      { weight: 1, arbitrary: fc.constantFrom(...OPERATIONS) },
    );
    await assertProperty(
      fc.asyncProperty(listHeavy.chain((op) => callArb(op)), queryString, async (call, query) => {
        await exchange(restRequest(call, { query }));
      }),
      500,
    );
  });

  it('survives deeply nested JSON (up to 6000 levels) as the body or inside a field', { timeout: TIMEOUT }, async () => {
    const depth = fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 100, max: 2000 }), fc.integer({ min: 2000, max: 6000 }));
    const shapes: [string, string, string][] = [
      ['[', '1', ']'],
      ['{"a":', '1', '}'],
      ['{"not":', '{}', '}'],
      ['{"properties":{"p":', '{}', '}}'],
      ['{"items":', '{}', '}'],
      ['[{"a":', 'null', '}]'],
    ];
    const deep = fc.tuple(depth, fc.constantFrom(...shapes), fc.boolean()).map(([n, [open, leaf, close], wrapInObject]) => {
      const text = open.repeat(n) + leaf + close.repeat(n);
      return wrapInObject && open.startsWith('[') ? `{"a":${text}}` : text;
    });
    const placed = fc.oneof(
      // The whole body.
      fc.tuple(anyCall(0, BODY_OPERATIONS), deep).map(([call, text]) => ({ call: { ...call, entries: [] }, body: text })),
      // One JSON field of a call that is otherwise valid.
      fc.constantFrom(...JSON_FIELD_OPERATIONS).chain((op) =>
        fc.tuple(callArb(op, 0), deep, fc.constantFrom(...Object.entries(op.fields).filter(([, f]) => f.kind === 'json').map(([k]) => k))).map(
          ([call, text, key]) => ({ call: { ...call, entries: [...call.entries.filter(([k]) => k !== JSON.stringify(key)), [JSON.stringify(key), text] as [string, string]] }, body: undefined }),
        ),
      ),
    );
    await assertProperty(
      fc.asyncProperty(placed, fc.boolean(), async ({ call, body }, viaTrpc) => {
        const req = viaTrpc ? trpcRequest(call) : restRequest(call);
        await exchange(body === undefined || req.method === 'GET' ? req : { ...req, body });
      }),
      200,
    );
  });

  it('survives long strings and unicode (emoji, lone surrogates, NUL, BOM) in every text field and key', { timeout: TIMEOUT }, async () => {
    const length = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 300 }) }, { weight: 3, arbitrary: fc.integer({ min: 300, max: 70_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 400_000, max: 1_100_000 }) });
    const unit = fc.constantFrom('x', 'é', '💥', '\\ud800', '\\udc00', '\\u0000', '\ufeff', '\u202e', 'a\u0301', '\ud800', '"', '\\\\');
    // JSON-escaped text: '\\ud800' becomes a lone surrogate once parsed; a raw '\ud800' is sent as U+FFFD.
    const longText = fc.tuple(length, unit).map(([n, u]) => `"${(u === '"' ? '\\"' : u).repeat(Math.max(0, Math.floor(n / Math.max(1, u.length))))}"`);
    const text = fc.oneof(longText, stringLiteral, fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => JSON.stringify(s)));
    const unicodeCall = fc.constantFrom(...TEXT_FIELD_OPERATIONS, ...JSON_FIELD_OPERATIONS).chain((op) =>
      fc.tuple(callArb(op, 0), fc.array(text, { minLength: 4, maxLength: 4 }), text).map(([call, texts, key]): Call => {
        const textKeys = Object.entries(op.fields).filter(([, f]) => f.kind === 'text').map(([k]) => JSON.stringify(k));
        const jsonKeys = Object.entries(op.fields).filter(([, f]) => f.kind === 'json').map(([k]) => JSON.stringify(k));
        const entries = call.entries.filter(([k]) => !textKeys.includes(k));
        textKeys.forEach((k, i) => entries.push([k, texts[i % texts.length]!]));
        // JSON fields get a unicode key and value: {"<key>": "<text>"}.
        const jsonKey = jsonKeys[0];
        if (jsonKey) entries.push([jsonKey, `{${key}:${texts[3]}}`]);
        return { ...call, entries };
      }),
    );
    await assertProperty(
      fc.asyncProperty(unicodeCall, fc.boolean(), async (call, viaTrpc) => {
        const req = viaTrpc ? trpcRequest(call) : restRequest(call);
        const size = typeof req.body === 'string' ? Buffer.byteLength(req.body) : 0;
        // Over the limit: 413, unless a very long path id has already earned a 431, or a path
        // that is not valid percent-encoding or holds a raw byte from 0x7f up (`send` passes
        // U+007F-U+00FF through as single bytes, and Node's HTTP parser refuses every one of them
        // in a request line) a 400, before the body is read.
        const requestLineValid = !/[\x7f-\xff]/.test(req.path) && (() => {
          try {
            decodeURIComponent(req.path);
            return true;
          } catch {
            return false;
          }
        })();
        await exchange(req, size > BODY_LIMIT && req.path.length < 4096 && requestLineValid ? 413 : undefined);
      }),
      300,
    );
  });

  it('survives raw invalid UTF-8, malformed JSON and wrong content types', { timeout: TIMEOUT }, async () => {
    const bytes = (...values: number[]) => Uint8Array.from(values);
    const rawBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
      fc.constantFrom<string | Uint8Array>(
        bytes(0xff, 0xfe), bytes(0xc3, 0x28), bytes(0xe2, 0x28, 0xa1), bytes(0xf0, 0x28, 0x8c, 0xbc), bytes(0xc0, 0xaf), bytes(0xed, 0xa0, 0x80),
        bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d), bytes(0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00), bytes(0x00), bytes(0x7b, 0x00, 0x7d),
        '{', '}', '{"a":}', '[1,]', "{'a':1}", '{"a":1}garbage', '{"a":1}{"b":2}', 'NaN', 'undefined', '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}',
        '// c\n{}', '/* c */{}', '{"a":1,}', '"\\x41"', '"\\u12"', '"\t"', '{"a":"\n"}', ' ', '\n\n', '[]', '"string"', '1', '-0', 'null', 'true',
        '{"a":01}', '{"a":.5}', '{"a":+1}', '{"a":1e}', '{"a":0x10}', '{a:1}', '{"a" 1}', '{"a":1 "b":2}', '\ufeff{}', '{"a":"\\ud800"}',
        '{"name":"\\ud800\\udc00"}', '{"__proto__":{}}', '{"name":"x","name":"y"}', `{"name":"dup","name":${'1'.repeat(500)}}`,
      ),
      fc.uint8Array({ maxLength: 64 }),
      // Valid JSON with invalid UTF-8 bytes inside a string.
      fc.tuple(fc.constantFrom('name', 'worker_id', 'error_message', 'description'), fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => b.map((x) => x | 0x80))).map(
        ([key, junk]) => Buffer.concat([Buffer.from(`{"${key}":"`), Buffer.from(junk), Buffer.from('","task_type_id":1,"worker_id":"w","lease_id":"l","error_message":"e"}')]),
      ),
      // A schema-shaped body cut short.
      fc.tuple(anyCall(), fc.nat()).map(([call, cut]) => {
        const text = objectText(call.entries);
        return text.slice(0, cut % Math.max(1, text.length));
      }),
    );
    await assertProperty(
      fc.asyncProperty(
        fc.constantFrom(...OPERATIONS),
        fc.boolean(),
        rawBody,
        fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 4, nil: undefined }),
        fc.boolean(),
        async (op, viaTrpc, body, contentType, chunked) => {
          const path = viaTrpc ? `/trpc/${op.procedure}` : op.route.replace('{id}', '1');
          const method = viaTrpc ? 'POST' : op.method;
          await exchange({ method, path, headers: contentType === undefined ? {} : { 'content-type': contentType }, body, chunked });
        },
      ),
      500,
    );
  });

  it('survives prototype-pollution keys in bodies, nested fields and query strings', { timeout: TIMEOUT }, async () => {
    const poison = fc.constantFrom(
      '{"polluted":"yes"}',
      '{"prototype":{"polluted":"yes"}}',
      '{"__proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '"yes"',
      'null',
      '[{"__proto__":{"polluted":"yes"}}]',
    );
    const poisoned = fc.constantFrom(...OPERATIONS).chain((op) =>
      fc.tuple(callArb(op, 0), fc.constantFrom(...PROTO_KEYS), poison, fc.boolean()).map(([call, key, value, nested]): Call => {
        const jsonKey = Object.entries(op.fields).find(([, f]) => f.kind === 'json')?.[0];
        const entry: [string, string] =
          nested && jsonKey ? [JSON.stringify(jsonKey), `{${JSON.stringify(key)}:${value}}`] : [JSON.stringify(key), value];
        return { ...call, entries: [...call.entries.filter(([k]) => k !== entry[0]), entry] };
      }),
    );
    const poisonQuery = fc.constantFrom(
      '?__proto__[polluted]=yes', '?constructor[prototype][polluted]=yes', '?__proto__=yes', '?__proto__.polluted=yes',
      '?constructor=x&prototype=y', '?limit=1&__proto__[limit]=2', '?input={"__proto__":{"polluted":"yes"}}',
    );
    await assertProperty(
      fc.asyncProperty(poisoned, fc.constantFrom('rest', 'trpc', 'query'), poisonQuery, async (call, via, query) => {
        if (via === 'trpc') await exchange(trpcRequest(call));
        else if (via === 'query') await exchange(restRequest(call, { query: query.replace(/[{}"]/g, encode) }));
        else await exchange(restRequest(call));
      }),
      300,
    );
  });

  it('survives task types whose parameters_schema point at each other by $id and $ref, and their tasks', { timeout: TIMEOUT }, async () => {
    // Each run gets its own schema URIs, so that runs (and shrinking) do not see each other's schemas.
    let run = 0;
    const schemas = (uri: string): object[] => [
      { $id: uri, type: 'object' },
      { $ref: uri },
      { type: 'object', properties: { p: { $id: uri, type: 'string' } } },
      { type: 'object', properties: { n: { type: 'integer' } } },
      // Loops that never end: refused, at the root or deeper down.
      { $ref: '#' },
      { $id: uri, allOf: [{ $ref: uri }] },
      { type: 'object', properties: { n: { $ref: '#/definitions/d' } }, definitions: { d: { anyOf: [{ $ref: '#/definitions/d' }] } } },
      // Recursion that reads deeper: fine.
      { $id: uri, type: 'object', properties: { n: { $ref: uri } } },
    ];
    const action = fc.oneof(
      fc.record({ kind: fc.constant('create type' as const), schema: fc.nat(7), uri: fc.nat(1) }),
      fc.record({ kind: fc.constant('update type' as const), type: fc.nat(9), schema: fc.nat(7), uri: fc.nat(1) }),
      fc.record({ kind: fc.constant('create task' as const), type: fc.nat(9), parameters: fc.constantFrom({}, { n: 1 }, { p: 'x' }, { n: 'x' }) }),
    );
    await assertProperty(
      fc.asyncProperty(fc.array(action, { minLength: 2, maxLength: 10 }), async (actions) => {
        run++;
        const uris = [`http://fuzz.example/run${run}/a`, `http://fuzz.example/run${run}/b`];
        const typeIds: number[] = [];
        for (const [i, a] of actions.entries()) {
          if (a.kind === 'create type') {
            const body = JSON.stringify({ name: `schema_run${run}_${i}`, parameters_schema: schemas(uris[a.uri]!)[a.schema] });
            const res = await exchange({ method: 'POST', path: '/api/task-types', headers: { 'content-type': 'application/json' }, body });
            if (res.status === 201) typeIds.push((res.json as { id: number }).id);
          } else if (typeIds.length > 0) {
            const typeId = typeIds[a.type % typeIds.length]!;
            if (a.kind === 'update type') {
              const body = JSON.stringify({ parameters_schema: schemas(uris[a.uri]!)[a.schema] });
              await exchange({ method: 'PUT', path: `/api/task-types/${typeId}`, headers: { 'content-type': 'application/json' }, body });
            } else {
              const body = JSON.stringify({ task_type_id: typeId, parameters: a.parameters });
              await exchange({ method: 'POST', path: '/api/tasks', headers: { 'content-type': 'application/json' }, body });
              // And in a batch with a task of each type made so far.
              const tasks = typeIds.map((task_type_id) => ({ task_type_id, parameters: a.parameters }));
              await exchange({ method: 'POST', path: '/api/tasks/batch', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tasks }) });
            }
          }
        }
      }),
      150,
    );
  });

  it('answers bodies over the 1 MiB limit with 413, with a Content-Length or chunked', { timeout: TIMEOUT }, async () => {
    await assertProperty(
      fc.asyncProperty(
        fc.constantFrom(...BODY_OPERATIONS),
        fc.boolean(),
        fc.integer({ min: 1, max: 300_000 }),
        fc.boolean(),
        async (op, viaTrpc, extra, chunked) => {
          const filler = 'x'.repeat(BODY_LIMIT + extra);
          const body = `{"metadata":{"pad":"${filler}"},"name":"big","worker_id":"w"}`;
          const path = viaTrpc ? `/trpc/${op.procedure}` : op.route.replace('{id}', '1');
          await exchange({ method: op.method === 'PUT' && !viaTrpc ? 'PUT' : 'POST', path, headers: { 'content-type': 'application/json' }, body, chunked }, 413);
        },
      ),
      16,
    );
  });
});

describe('fuzz: the tRPC endpoint', () => {
  beforeAll(replenish);

  it('survives random inputs, wrong methods, batches and unknown procedures at /trpc/<procedure>', { timeout: TIMEOUT }, async () => {
    const procedures = OPERATIONS.map((op) => op.procedure);
    const request: fc.Arbitrary<FuzzRequest> = fc.oneof(
      // Schema-shaped inputs, the right way.
      fc.tuple(anyCall(), extraHeaders).map(([call, headers]) => trpcRequest(call, headers)),
      // Random JSON to any procedure, by POST or GET, or to one that does not exist.
      fc
        .tuple(
          fc.oneof(fc.constantFrom(...procedures), fc.constantFrom('tasks', 'taskTypes', 'tasks.nope', '__proto__', 'constructor', 'tasks.__proto__', 'a.b.c', ''), fc.string({ unit: latin1Char, maxLength: 20 })),
          fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
          anyJsonText,
          fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 3, nil: undefined }),
        )
        .map(([procedure, method, input, contentType]): FuzzRequest =>
          method === 'GET'
            ? { method, path: `/trpc/${pathSafe(procedure)}?input=${encode(input)}` }
            : { method, path: `/trpc/${pathSafe(procedure)}`, headers: contentType === undefined ? {} : { 'content-type': contentType }, body: input },
        ),
      // Batches: several procedures at once, with a body keyed by index (or not).
      fc
        .tuple(fc.array(anyCall(), { minLength: 1, maxLength: 3 }), fc.constantFrom('POST', 'GET'), fc.boolean(), anyJsonText)
        .map(([calls, method, keyed, junk]): FuzzRequest => {
          const names = calls.map((c) => c.op.procedure).join(',');
          const inputs = keyed ? objectText(calls.map((c, i) => [JSON.stringify(String(i)), trpcInput(c)])) : junk;
          return method === 'GET'
            ? { method, path: `/trpc/${names}?batch=1&input=${encode(inputs)}` }
            : { method, path: `/trpc/${names}?batch=1`, headers: { 'content-type': 'application/json' }, body: inputs };
        }),
      // Junk in the input query parameter.
      fc.tuple(fc.constantFrom(...procedures), queryString).map(([procedure, query]): FuzzRequest => ({ method: 'GET', path: `/trpc/${procedure}${query}` })),
    );
    await assertProperty(
      fc.asyncProperty(request, async (req) => {
        await exchange(req);
      }),
      600,
    );
  });
});

describe('fuzz: aftermath', () => {
  it('leaves the database intact and Object.prototype unpolluted', async () => {
    await expectAlive();
    const db = server.sqlite?.db.$client;
    if (db) {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
    }
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_KEYS);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.toString.call([])).toBe('[object Array]');
  });
});
