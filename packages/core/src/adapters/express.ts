// Express 5 adapter. `preconditions()` is validator-first middleware (put it after
// body parsing so 400/415 still win, 13.2.1); `bodyETag()` is body-hash mode.
// Both reuse the node:http adapter: an Express response is a ServerResponse.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { conditionalHeaders } from '../index.js';
import { decide, decideByBody, type PreconditionOptions, type ValidatorsFn } from './common.js';
import { applyDecision } from './node.js';

export type { IfMatchState, PreconditionOptions, ValidatorsFn } from './common.js';

/**
 * Validator-first middleware: answers 304/412/428 itself, otherwise sets
 * ETag/Last-Modified (GET/HEAD), stores the state in `res.locals.ifmatch`, calls next().
 */
export function preconditions(
  validatorsFn: ValidatorsFn<Request>,
  options?: PreconditionOptions,
): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const validators = await validatorsFn(req);
    const decision = decide(
      req.method,
      conditionalHeaders(req.headersDistinct),
      validators,
      options,
    );
    if (decision.action === 'proceed') res.locals.ifmatch = decision.state;
    if (!applyDecision(res, decision)) next();
  };
}

/**
 * Body-hash middleware: a strong ETag from the bytes of `res.send()`/`res.end()`
 * on GET/HEAD 200 responses without an ETag, and 304/412 from it. Responses
 * already streamed with `res.write()` are left alone (their headers are out).
 */
export function bodyETag(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    // Decide and, when a 304/412 is due, answer; true = answered.
    const handle = (body: unknown): boolean => {
      if (res.headersSent) return false;
      const byBody = decideByBody(
        req.method,
        res.statusCode,
        conditionalHeaders(req.headersDistinct),
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
    res.send = function sendWithETag(this: Response, body?: unknown) {
      if (typeof body === 'string' || body instanceof Uint8Array) {
        if (handle(body)) return this;
      }
      return send.call(this, body);
    } as Response['send'];

    const end = res.end;
    res.end = function endWithETag(this: Response, ...args: unknown[]) {
      const [chunk] = args;
      if ((typeof chunk === 'string' || chunk instanceof Uint8Array) && handle(chunk)) return this;
      return (end as (...a: unknown[]) => Response).apply(this, args);
    } as Response['end'];

    next();
  };
}
