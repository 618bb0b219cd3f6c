// Hono 4 adapter on web-standard Request/Response. Fetch's Headers joins repeated
// lines with ", ": fine for entity-tag lists, and a doubled date becomes invalid
// (ignored), which is what RFC 9110 wants too.
import type { Context, MiddlewareHandler } from 'hono';
import { conditionalHeaders, WriteConflictError } from '../index.js';
import {
  type Decision,
  decide,
  decideByBody,
  decideWriteFailure,
  type IfMatchState,
  notModifiedFrom,
  PROBLEM_TYPE,
  type PreconditionOptions,
  problemBody,
  underLock,
  type ValidatorsFn,
} from './common.js';

export type { IfMatchState, PreconditionOptions, ValidatorsFn } from './common.js';

export type IfMatchEnv = { Variables: { ifmatch: IfMatchState | undefined } };

/** The Response for a 304/412/428 decision, built on the headers set so far. */
function answerResponse(current: Headers, decision: Decision): Response | undefined {
  if (decision.action === 'not-modified') {
    return new Response(null, { status: 304, headers: notModifiedFrom(current, decision.headers) });
  }
  if (decision.action === 'problem') {
    const headers = new Headers(current);
    headers.delete('content-length');
    for (const [name, value] of decision.headers) headers.set(name, value);
    headers.set('content-type', PROBLEM_TYPE);
    return new Response(problemBody(decision.problem), { status: decision.status, headers });
  }
  return undefined;
}

/** Replace the context's response, without Hono merging the old headers back in. */
function replaceResponse(c: Context, res: Response): void {
  c.res = undefined;
  c.res = res;
}

/**
 * Validator-first middleware: answers 304/412/428 itself, otherwise sets
 * ETag/Last-Modified (GET/HEAD), `c.set('ifmatch', state)` and runs the handler.
 * A WriteConflictError the handler throws becomes 412 with the current ETag (or
 * 404), a StoreUnavailableError 503 with Retry-After (read from `c.error`).
 */
export function preconditions(
  validatorsFn: ValidatorsFn<Context>,
  options?: PreconditionOptions<Context>,
): MiddlewareHandler<IfMatchEnv> {
  return (c, next) =>
    underLock(c.req.method, c, options, async () => {
      const conditional = conditionalHeaders(c.req.raw.headers);
      let validators: Awaited<ReturnType<typeof validatorsFn>>;
      try {
        validators = await validatorsFn(c);
      } catch (error) {
        // A store that fails while validators() reads it: 503, like a failed write.
        const failure = await decideWriteFailure(c.req.method, conditional, error, () => undefined);
        if (failure === undefined || error instanceof WriteConflictError) throw error;
        const res = answerResponse(c.res.headers, failure)!;
        replaceResponse(c, res);
        return res;
      }
      const decision = decide(c.req.method, conditional, validators, options);
      if (decision.action === 'skip') {
        await next();
        return;
      }
      if (decision.action !== 'proceed') {
        const res = answerResponse(c.res.headers, decision)!;
        replaceResponse(c, res);
        return res;
      }
      c.set('ifmatch', decision.state);
      // On c.res (not prepared headers) so they survive a handler returning a raw Response.
      for (const [name, value] of decision.headers) c.res.headers.set(name, value);
      await next();
      if (c.error === undefined) return;
      const failure = await decideWriteFailure(c.req.method, conditional, c.error, () =>
        validatorsFn(c),
      );
      if (failure === undefined) return;
      c.error = undefined;
      const headers = new Headers(c.res.headers);
      for (const name of WRITE_FIELDS) headers.delete(name);
      replaceResponse(c, answerResponse(headers, failure)!);
    });
}

// What a handler may have set for a success, or Hono's error response carries.
const WRITE_FIELDS = ['etag', 'last-modified', 'location', 'content-location', 'content-type'];

/**
 * Body-hash middleware: after the handler, a strong ETag from the response bytes
 * (GET/HEAD 200 without ETag) and 304/412 from it. Event streams are left alone.
 */
export function bodyETag(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const res = c.res;
    if (res.status !== 200 || res.body === null || res.headers.has('etag')) return;
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD') return;
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) return;
    // Reading consumes the body: from here on the response is always replaced.
    const body = new Uint8Array(await res.arrayBuffer());
    const byBody = decideByBody(
      method,
      200,
      conditionalHeaders(c.req.raw.headers),
      undefined,
      res.headers.get('last-modified') ?? undefined,
      body,
    );
    const headers = new Headers(res.headers);
    if (byBody !== undefined) headers.set('etag', byBody.etag);
    const answer = byBody && answerResponse(headers, byBody.decision);
    replaceResponse(c, answer ?? new Response(body, { status: 200, headers }));
  };
}
