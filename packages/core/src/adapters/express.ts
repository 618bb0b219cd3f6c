// Express adapter (Express 4 and 5). `preconditions(validators, handler)` is the
// route handler: mount it after body parsing so 400/415 still win (13.2.1). It
// catches what the handler throws itself (Express 4 does not catch async
// errors), answers write conflicts, and passes every other error to next().
// `bodyETag()` is body-hash mode. Both reuse the node:http adapter: an Express
// response is a ServerResponse. Typed structurally, so Express 4 and 5 types both fit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { conditionalHeaders } from '../index.js';
import { decideByBody, type PreconditionOptions, type ValidatorsFn } from './common.js';
import { applyDecision, type PreconditionHandler, runWithPreconditions } from './node-response.js';

export type { IfMatchState, PreconditionOptions, ValidatorsFn } from './common.js';
export type { PreconditionHandler } from './node-response.js';

type Next = (error?: unknown) => void;

/**
 * Validator-first route handler: answers 304/412/428 itself, otherwise sets
 * ETag/Last-Modified (GET/HEAD) and runs `handler(req, res, state)`; a
 * WriteConflictError it throws becomes 412 (current ETag) or 404, a
 * StoreUnavailableError 503. Give the type parameters to get Express's types:
 * `preconditions<Request, Response>(...)`.
 */
export function preconditions<
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
>(
  validators: ValidatorsFn<Req>,
  handler: PreconditionHandler<Req, Res>,
  options?: PreconditionOptions<Req>,
): (req: Req, res: Res, next: Next) => void {
  return (req, res, next) => {
    void runWithPreconditions(req, res, validators, handler, options, next);
  };
}

type ExpressResponse = ServerResponse & {
  send(body?: unknown): unknown;
  statusCode: number;
};

/**
 * Body-hash middleware: a strong ETag from the bytes of `res.send()`/`res.end()`
 * on GET/HEAD 200 responses without an ETag, and 304/412 from it. Responses
 * already streamed with `res.write()` are left alone (their headers are out).
 */
export function bodyETag(): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (req, response, next) => {
    const res = response as ExpressResponse;
    // Decide and, when a 304/412 is due, answer; true = answered.
    const handle = (body: unknown): boolean => {
      if (res.headersSent) return false;
      const byBody = decideByBody(
        req.method ?? 'GET',
        res.statusCode,
        conditionalHeaders(req.rawHeaders),
        res.getHeader('etag'),
        res.getHeader('last-modified'),
        body,
      );
      if (byBody === undefined) return false;
      res.setHeader('ETag', byBody.etag); // also stops Express from adding its own weak ETag
      return applyDecision(res, byBody.decision);
    };

    const send = res.send;
    // res.send sees the body even on HEAD (it then calls end() without it).
    res.send = function sendWithETag(this: ExpressResponse, body?: unknown) {
      if (typeof body === 'string' || body instanceof Uint8Array) {
        if (handle(body)) return this;
      }
      return send.call(this, body);
    };

    const end = res.end;
    res.end = function endWithETag(this: ExpressResponse, ...args: unknown[]) {
      const [chunk] = args;
      if ((typeof chunk === 'string' || chunk instanceof Uint8Array) && handle(chunk)) return this;
      return (end as (...a: unknown[]) => ExpressResponse).apply(this, args);
    } as ExpressResponse['end'];

    next();
  };
}
