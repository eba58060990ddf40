/**
 * How JSON request bodies are read, by REST and tRPC alike: valid UTF-8 only, no `__proto__` or
 * `constructor.prototype` keys (both answer 422), and media types matched case-insensitively.
 * REST gets the parsed value; tRPC gets the checked text, which it parses itself.
 */
import type { FastifyBodyParser, FastifyInstance, FastifyRequest } from 'fastify';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A 400-status SyntaxError: the error handler answers it 422, as unreadable JSON. */
const unreadable = (message: string) => Object.assign(new SyntaxError(message), { statusCode: 400 });

/** Keys that could reach an object's prototype, in any JSON spelling (as secure-json-parse looks for them). */
const SUSPECT_KEY =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:|"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

/** Lower-cases the Content-Type header, so that `APPLICATION/JSON` is JSON on every route. */
export function lowerCaseContentType(request: FastifyRequest): void {
  const type = request.headers['content-type'];
  if (type !== undefined && type !== type.toLowerCase()) request.headers['content-type'] = type.toLowerCase();
}

/**
 * Parses JSON text, refusing prototype keys in any spelling. The key check runs only on text that
 * may hold one, so an ordinary body costs one plain JSON.parse.
 */
export function parseJson(text: string): unknown {
  try {
    return SUSPECT_KEY.test(text) ? JSON.parse(text, refusePrototypeKeys) : JSON.parse(text);
  } catch (error) {
    throw unreadable((error as Error).message);
  }
}

function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object' && 'prototype' in value)) {
    throw new Error(`the key "${key === '__proto__' ? '__proto__' : 'constructor.prototype'}" is not allowed (prototype pollution)`);
  }
  return value;
}

/**
 * Adds the JSON body parser to a scope: `parsed` gives the value (REST), `text` the checked text
 * (tRPC, which parses it again itself: only text that may hold a prototype key is parsed here).
 * An empty body reads as `{}` (REST) or no input (tRPC).
 */
export function addJsonParser(scope: FastifyInstance, give: 'parsed' | 'text'): void {
  const parser: FastifyBodyParser<Buffer> = (_request, body, done) => {
    try {
      const text = utf8Text(body);
      if (give === 'parsed') return done(null, text === '' ? {} : parseJson(text));
      if (SUSPECT_KEY.test(text)) parseJson(text);
      done(null, text);
    } catch (error) {
      done(error as Error, undefined);
    }
  };
  if (scope.hasContentTypeParser('application/json')) scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, parser);
}

function utf8Text(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw unreadable('the body is not valid UTF-8');
  }
}

/** The same rules for a tRPC query's `input` (GET), which arrives in the URL. */
export function checkQueryInput(input: unknown): Error | undefined {
  if (typeof input !== 'string' || !SUSPECT_KEY.test(input)) return undefined;
  try {
    parseJson(input);
    return undefined;
  } catch (error) {
    return error as Error;
  }
}
