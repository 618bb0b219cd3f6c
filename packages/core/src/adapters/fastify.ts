// Fastify 5 adapter: one plugin, two modes.
//  - validator-first: a route's `config.validators` is evaluated in preHandler,
//    i.e. after body parsing and schema validation, so 400/415 beat 412 (13.2.1);
//  - body-hash (`bodyHash: true`): an onSend hook hashes string/Buffer payloads.
// 304s lose the Content-Length Fastify would add (see guardNotModified).

import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
} from 'fastify';
import {
  conditionalHeaders,
  type InProcessLock,
  StoreUnavailableError,
  type Validators,
} from '../index.js';
import {
  type Decision,
  decide,
  decideByBody,
  decideWriteFailure,
  type IfMatchState,
  keepNotModifiedFields,
  PROBLEM_TYPE,
  type PreconditionOptions,
  problemBody,
  type ValidatorsFn,
} from './common.js';
import { guardNotModified } from './node.js';

export type { IfMatchState, PreconditionOptions, ValidatorsFn } from './common.js';

export interface IfMatchPluginOptions extends PreconditionOptions<FastifyRequest> {
  /** Hash GET/HEAD 200 string/Buffer payloads that have no ETag (default false). */
  bodyHash?: boolean;
}

const SAFE = new Set(['GET', 'HEAD']);
const WRITE_FIELDS = ['etag', 'last-modified', 'location', 'content-location', 'content-type'];
/** The in-process lock's release, held from preHandler until the response is done. */
const release = Symbol('ifmatch.release');
type Locked = FastifyRequest & { [release]?: () => void };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by @ifmatch/core on routes with `config.validators` that were let through. */
    ifmatch: IfMatchState | undefined;
  }
  interface FastifyContextConfig {
    /** Current validators of the route's target; read by the @ifmatch/core plugin. */
    validators?: ValidatorsFn<FastifyRequest>;
    /** Per-route override of the plugin's `strict`. */
    strict?: boolean;
    /** Per-route override of the plugin's `bodyHash`. */
    bodyHash?: boolean;
    /** Per-route override of the plugin's `inProcessLock` (one process only). */
    inProcessLock?: { lock: InProcessLock; key: (request: FastifyRequest) => string };
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | undefined)?.then === 'function';
}

function conditionals(request: FastifyRequest) {
  return conditionalHeaders(request.raw.rawHeaders);
}

/** Send a decision's answer through `reply`; true = answered. */
function answerWith(reply: FastifyReply, decision: Decision): boolean {
  switch (decision.action) {
    case 'skip':
      return false;
    case 'proceed':
      for (const [name, value] of decision.headers) reply.header(name, value);
      return false;
    case 'not-modified': {
      keepNotModifiedFields(
        {
          names: () => Object.keys(reply.getHeaders()),
          set: (name, value) => reply.header(name, value),
          remove: (name) => reply.removeHeader(name),
        },
        decision.headers,
      );
      reply.code(304);
      // Fastify's HEAD routes add Content-Length (0 or the GET body's size) in an
      // onSend that runs after ours; a 304 must not carry it (RFC 9110 15.4.5).
      guardNotModified(reply.raw);
      return true;
    }
    case 'problem':
      for (const [name, value] of decision.headers) reply.header(name, value);
      reply.code(decision.status).header('content-type', PROBLEM_TYPE);
      return true;
  }
}

/** Holds the route's in-process lock (writes only) until onResponse releases it. */
function acquire(request: FastifyRequest, opts: IfMatchPluginOptions): Promise<void> | undefined {
  const lock = request.routeOptions.config.inProcessLock ?? opts.inProcessLock;
  if (lock === undefined || SAFE.has(request.method)) return undefined;
  return new Promise<void>((acquired) => {
    void lock.lock.run(
      lock.key(request),
      () =>
        new Promise<void>((done) => {
          (request as Locked)[release] = done;
          acquired();
        }),
    );
  });
}

/**
 * Wraps a write route's handler: a WriteConflictError it throws is answered as
 * the pre-check would have been against the state now (412 + current ETag, or
 * 404), a StoreUnavailableError as 503; anything else goes to Fastify.
 */
function answeringWriteFailures(handler: RouteHandlerMethod): RouteHandlerMethod {
  return async function conditionalWrite(this: FastifyInstance, request, reply) {
    try {
      return await handler.call(this, request, reply);
    } catch (error) {
      const fn = request.routeOptions.config.validators;
      if (fn === undefined || reply.sent) throw error;
      const answer = await decideWriteFailure(request.method, conditionals(request), error, () =>
        fn(request),
      );
      if (answer === undefined || answer.action !== 'problem') throw error;
      for (const name of WRITE_FIELDS) reply.removeHeader(name);
      answerWith(reply, answer);
      return reply.send(problemBody(answer.problem));
    }
  };
}

async function unlock(request: FastifyRequest): Promise<void> {
  (request as Locked)[release]?.();
}

function toArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function evaluate(
  request: FastifyRequest,
  reply: FastifyReply,
  done: (error?: Error) => void,
  fn: ValidatorsFn<FastifyRequest>,
  strict: boolean,
): void {
  const settle = (validators: Validators | undefined) => {
    let decision: Decision;
    let answered: boolean;
    try {
      decision = decide(request.method, conditionals(request), validators, { strict });
      if (decision.action === 'proceed') request.ifmatch = decision.state;
      answered = answerWith(reply, decision);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (!answered) {
      done();
      return;
    }
    // No payload at all: '' would make Fastify write Content-Length: 0, null a JSON "null".
    reply.send(decision.action === 'problem' ? problemBody(decision.problem) : undefined);
  };
  let result: ReturnType<typeof fn>;
  try {
    result = fn(request);
  } catch (error) {
    failedRead(reply, done, error as Error);
    return;
  }
  if (isPromiseLike(result)) result.then(settle, (error: Error) => failedRead(reply, done, error));
  else settle(result);
}

/** A store that fails while validators() reads it: 503, like a failed write; else Fastify's. */
function failedRead(reply: FastifyReply, done: (error?: Error) => void, error: Error): void {
  if (!(error instanceof StoreUnavailableError)) {
    done(error);
    return;
  }
  void decideWriteFailure('GET', {}, error, () => undefined).then((answer) => {
    if (answer?.action !== 'problem') return done(error);
    answerWith(reply, answer);
    reply.send(problemBody(answer.problem));
  });
}

async function ifmatchPlugin(app: FastifyInstance, opts: IfMatchPluginOptions): Promise<void> {
  if (!app.hasRequestDecorator('ifmatch')) app.decorateRequest('ifmatch', undefined);

  // Only routes with validators are touched (a lock only on write routes).
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (route.config?.validators === undefined) return;
    route.handler = answeringWriteFailures(route.handler);
    if (methods.every((m) => SAFE.has(m))) return;
    if ((route.config.inProcessLock ?? opts.inProcessLock) === undefined) return;
    route.onResponse = [...toArray(route.onResponse), unlock];
    route.onRequestAbort = [...toArray(route.onRequestAbort), unlock];
  });

  // Callback style: a synchronous validators() (an in-process store) costs no
  // promise or microtask; a promise is awaited.
  app.addHook('preHandler', (request, reply, done) => {
    const config = request.routeOptions.config;
    const fn = config.validators;
    if (fn === undefined) return done();
    const locked = acquire(request, opts);
    if (locked !== undefined) {
      locked.then(() => evaluate(request, reply, done, fn, config.strict ?? opts.strict ?? false));
      return;
    }
    evaluate(request, reply, done, fn, config.strict ?? opts.strict ?? false);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const bodyHash = request.routeOptions.config.bodyHash ?? opts.bodyHash ?? false;
    if (!bodyHash) return payload;
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : undefined;
    if (body === undefined) return payload; // streams and empty replies are left alone
    const byBody = decideByBody(
      request.method,
      reply.statusCode,
      conditionals(request),
      reply.getHeader('etag'),
      reply.getHeader('last-modified'),
      body,
    );
    if (byBody === undefined) return payload;
    reply.header('etag', byBody.etag);
    if (!answerWith(reply, byBody.decision)) return payload;
    // '' rather than null: Fastify's HEAD onSend cannot take null (it measures the payload).
    return byBody.decision.action === 'problem' ? problemBody(byBody.decision.problem) : '';
  });
}

/**
 * The plugin. It skips Fastify's encapsulation (like fastify-plugin) so its hooks
 * reach the routes of the context that registers it: `await app.register(ifmatch)`.
 */
export const ifmatch: FastifyPluginAsync<IfMatchPluginOptions> = Object.assign(ifmatchPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@ifmatch/core',
});

export default ifmatch;
