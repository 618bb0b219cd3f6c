// Fastify 5 adapter: one plugin, two modes.
//  - validator-first: a route's `config.validators` is evaluated in preHandler,
//    i.e. after body parsing and schema validation, so 400/415 beat 412 (13.2.1);
//  - body-hash (`bodyHash: true`): an onSend hook hashes string/Buffer payloads.
// 304s lose the Content-Length Fastify would add (see guardNotModified).

import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
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
import { guardNotModified } from './node.js';

export type { IfMatchState, PreconditionOptions, ValidatorsFn } from './common.js';

export interface IfMatchPluginOptions extends PreconditionOptions {
  /** Hash GET/HEAD 200 string/Buffer payloads that have no ETag (default false). */
  bodyHash?: boolean;
}

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
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | undefined)?.then === 'function';
}

function conditionals(request: FastifyRequest) {
  return conditionalHeaders(request.raw.headersDistinct);
}

/** Send a decision's answer through `reply`; true = answered. */
function answer(reply: FastifyReply, decision: Decision): boolean {
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

async function ifmatchPlugin(app: FastifyInstance, opts: IfMatchPluginOptions): Promise<void> {
  if (!app.hasRequestDecorator('ifmatch')) app.decorateRequest('ifmatch', undefined);

  // Callback style: a synchronous validators() (an in-process store) costs no
  // promise or microtask; a promise is awaited.
  app.addHook('preHandler', (request, reply, done) => {
    const config = request.routeOptions.config;
    const fn = config.validators;
    if (fn === undefined) return done();
    const strict = config.strict ?? opts.strict ?? false;
    const settle = (validators: Validators | undefined) => {
      let decision: Decision;
      let answered: boolean;
      try {
        decision = decide(request.method, conditionals(request), validators, { strict });
        if (decision.action === 'proceed') request.ifmatch = decision.state;
        answered = answer(reply, decision);
      } catch (error) {
        return done(error as Error);
      }
      if (!answered) return done();
      // No payload at all: '' would make Fastify write Content-Length: 0, null a JSON "null".
      reply.send(decision.action === 'problem' ? problemBody(decision.problem) : undefined);
    };
    let result: ReturnType<typeof fn>;
    try {
      result = fn(request);
    } catch (error) {
      return done(error as Error);
    }
    if (isPromiseLike(result)) result.then(settle, (error: Error) => done(error));
    else settle(result);
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
    if (!answer(reply, byBody.decision)) return payload;
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
