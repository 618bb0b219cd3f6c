// node:http adapter. Reads `req.rawHeaders` so repeated If-Match lines stay
// a list and a duplicated date line is seen as invalid (RFC 9110 5.3).
import { type IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { decideByBody, type PreconditionOptions, type ValidatorsFn } from './common.js';
import {
  applyDecision,
  BODY_FIELDS,
  type PreconditionHandler,
  requestConditionals,
  runWithPreconditions,
} from './node-response.js';

export type { IfMatchState, PreconditionOptions, ValidatorsFn } from './common.js';
export type { PreconditionHandler } from './node-response.js';

/**
 * Make `res` drop body-describing fields if it is written as a 304, whoever adds
 * them late (Fastify's HEAD routes add Content-Length, @hono/node-server adds a
 * default Content-Type to every response).
 */
export function guardNotModified(res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadGuarded(this: ServerResponse, ...args: unknown[]) {
    if (args[0] === 304) {
      for (const name of BODY_FIELDS) res.removeHeader(name);
      for (const arg of args.slice(1)) {
        if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) continue;
        const record = arg as Record<string, unknown>;
        for (const key of Object.keys(record)) {
          if (BODY_FIELDS.includes(key.toLowerCase())) delete record[key];
        }
      }
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/**
 * A ServerResponse with guardNotModified applied, for servers that add headers
 * after the app answered, e.g. `serve({ fetch, serverOptions: { ServerResponse:
 * BareNotModifiedResponse } })` with @hono/node-server.
 */
export class BareNotModifiedResponse<
  Request extends IncomingMessage = IncomingMessage,
> extends ServerResponse<Request> {
  constructor(...args: ConstructorParameters<typeof ServerResponse<Request>>) {
    super(...args);
    guardNotModified(this);
  }
}

/**
 * A request listener: look up `validators(req)`, answer 304/412/428 itself or
 * run `handler` with the state (its `condition` is what the store must still
 * hold at commit). A WriteConflictError thrown by the handler is answered 412
 * with the current ETag (or 404), a StoreUnavailableError 503 with Retry-After.
 * Other errors: a 500 (no body) unless headers were sent, then the socket is closed.
 */
export function preconditions<Req extends IncomingMessage = IncomingMessage>(
  validators: ValidatorsFn<Req>,
  handler: PreconditionHandler<Req, ServerResponse>,
  options?: PreconditionOptions<Req>,
): (req: Req, res: ServerResponse) => Promise<void> {
  return (req, res) =>
    runWithPreconditions(req, res, validators, handler, options, (error) => {
      if (res.headersSent) {
        res.destroy(error instanceof Error ? error : undefined);
        return;
      }
      console.error(error);
      res.statusCode = 500;
      res.end();
    });
}

/**
 * Body-hash mode: send `body` with a strong ETag of its bytes (GET/HEAD 200
 * without an ETag), or a 304/412 when the request's preconditions say so.
 * Other statuses, methods and responses that carry an ETag are sent as given.
 */
export function sendWithETag(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string | Uint8Array,
): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) res.setHeader(name, value);
  }
  const method = req.method ?? 'GET';
  const byBody = decideByBody(
    method,
    status,
    requestConditionals(req),
    res.getHeader('etag'),
    res.getHeader('last-modified'),
    body,
  );
  if (byBody !== undefined) {
    res.setHeader('ETag', byBody.etag);
    if (applyDecision(res, byBody.decision)) return;
  }
  if (status === 204 || status === 304 || status < 200) {
    res.end(); // these statuses have no content (RFC 9110 6.4.1)
    return;
  }
  res.setHeader('Content-Length', typeof body === 'string' ? Buffer.byteLength(body) : body.length);
  res.end(method === 'HEAD' ? undefined : body);
}
