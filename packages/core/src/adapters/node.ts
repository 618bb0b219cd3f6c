// node:http adapter. Reads `req.headersDistinct` so repeated If-Match lines stay
// a list and a duplicated date line is seen as invalid (RFC 9110 5.3).
import { type IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { conditionalHeaders, type Validators } from '../index.js';
import {
  type Decision,
  decide,
  decideByBody,
  type IfMatchState,
  keepNotModifiedFields,
  PROBLEM_TYPE,
  type PreconditionOptions,
  problemBody,
  type ValidatorsFn,
} from './common.js';

export type { IfMatchState, PreconditionOptions, ValidatorsFn } from './common.js';

// Fields that describe a body; a 304 has none (RFC 9110 15.4.5, 8.6).
const BODY_FIELDS = ['content-type', 'content-length', 'transfer-encoding'];

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

function requestConditionals(req: IncomingMessage) {
  return conditionalHeaders(req.headersDistinct);
}

function sendNotModified(res: ServerResponse, fields: ReadonlyArray<[string, string]>): void {
  keepNotModifiedFields(
    {
      names: () => res.getHeaderNames(),
      set: (name, value) => res.setHeader(name, value),
      remove: (name) => res.removeHeader(name),
    },
    fields,
  );
  res.statusCode = 304;
  res.end();
}

/** Write a decision's answer to `res`; true = answered (304/412/428). */
export function applyDecision(res: ServerResponse, decision: Decision): boolean {
  switch (decision.action) {
    case 'skip':
      return false;
    case 'proceed':
      for (const [name, value] of decision.headers) res.setHeader(name, value);
      return false;
    case 'not-modified':
      sendNotModified(res, decision.headers);
      return true;
    case 'problem': {
      const body = problemBody(decision.problem);
      for (const [name, value] of decision.headers) res.setHeader(name, value);
      res.statusCode = decision.status;
      res.setHeader('Content-Type', PROBLEM_TYPE);
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(isHead(res) ? undefined : body);
      return true;
    }
  }
}

function isHead(res: ServerResponse): boolean {
  return res.req?.method === 'HEAD';
}

/**
 * Evaluate the request's preconditions against `validators`. Answers 304, 412 or
 * 428 itself; otherwise sets ETag/Last-Modified (GET/HEAD) and returns the state
 * for the handler. `answered: true` = stop, the response is sent.
 */
export function preconditions(
  req: IncomingMessage,
  res: ServerResponse,
  validators: Validators | undefined,
  options?: PreconditionOptions,
): { answered: boolean; state: IfMatchState | undefined } {
  const decision = decide(req.method ?? 'GET', requestConditionals(req), validators, options);
  const answered = applyDecision(res, decision);
  return { answered, state: decision.action === 'proceed' ? decision.state : undefined };
}

/** true = a 304/412/428 was sent: the handler must not run. */
export function checkPreconditions(
  req: IncomingMessage,
  res: ServerResponse,
  validators: Validators | undefined,
  options?: PreconditionOptions,
): boolean {
  return preconditions(req, res, validators, options).answered;
}

export type PreconditionHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  state: IfMatchState | undefined,
) => void | Promise<void>;

/** Wrap a request listener: look up validators, evaluate, run `handler` only when it should. */
export function withPreconditions(
  validatorsFn: ValidatorsFn<IncomingMessage>,
  handler: PreconditionHandler,
  options?: PreconditionOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const { answered, state } = preconditions(req, res, await validatorsFn(req), options);
    if (!answered) await handler(req, res, state);
  };
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
