import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ifmatch } from '@ifmatch/core/fastify';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { LiveHub, type LiveOptions, type LiveStatus } from '../live/waiters.js';
import type { DocumentStore } from '../store/types.js';
import { StoreUnavailableError } from '../store/types.js';
import { type AuthConfig, authPlugin } from './auth.js';
import { clientErrorHandler } from './client-error.js';
import { type RouteContext, sendBodyProblem } from './context.js';
import { corsPolicy, installCors } from './cors.js';
import { type FastLane, fastLane } from './fast-lane.js';
import { healthRoutes } from './health.js';
import { Metrics } from './metrics.js';
import { openApiRoute, registerOpenApi } from './openapi.js';
import { problem, sendProblem, writeProblem } from './problem.js';
import { BodyCache } from './representation.js';
import { genReqId } from './request-id.js';
import { enabled, logRequest } from './request-log.js';
import { COLLECTION_METHODS, collectionRoutes } from './routes/collections.js';
import { DOCUMENT_METHODS, documentRoutes } from './routes/documents.js';
import { DEFAULT_WEB_DIST, staticRoutes } from './static.js';
import { canonicalTarget, isValidSegment, pathOf, SEGMENT_RULE } from './urls.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

declare module 'fastify' {
  interface FastifyInstance {
    /** The live hub (src/live/waiters.ts): `live.size` counts waiting requests and event streams. */
    live: LiveStatus;
  }
}

export interface AppOptions {
  store: DocumentStore;
  /** 428 for PUT/PATCH/DELETE without If-Match or If-None-Match. */
  strict?: boolean;
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Fastify logger option: false (default), true, or pino options. */
  logger?: FastifyServerOptions['logger'];
  /** Origins allowed by CORS (`*` = any); undefined = CORS off. */
  cors?: readonly string[];
  /** Bytes of stored bodies kept in memory by ETag (default 64 MiB, 0 = off). */
  cacheBytes?: number;
  /** Folder of the built web app (default packages/web/dist). */
  webDist?: string;
  /** Process-level metrics (CPU, memory, event loop) in /metrics (default true). */
  defaultMetrics?: boolean;
  /** Bearer tokens with per-collection scopes (`--auth`); undefined = no access control. */
  auth?: AuthConfig;
  /** Overrides of TIMEOUTS (ms), e.g. a short headersTimeout in tests. */
  timeouts?: Partial<typeof TIMEOUTS>;
  /**
   * Answer document GET/HEAD 304s (and 200s from the body cache) before Fastify
   * (default true), with the same decision and the same CORS and auth fields.
   */
  fastLane?: boolean;
  /**
   * Live changes (src/live/): the longest Prefer: wait (maxWaitSeconds, default
   * 60), waiters + event streams per instance (maxWaiters, default 10000), the
   * event streams' heartbeat (heartbeatMs, default 15000) and the bytes a slow
   * stream reader may leave waiting before it is dropped (streamBufferBytes,
   * default 1 MiB).
   */
  live?: Partial<LiveOptions>;
}

// Server timeouts (documented in docs/DECISIONS.md):
// - headers within 30 s (slow-loris), whole request within 120 s (a 1 MiB body
//   on a slow link), keep-alive 72 s (longer than common proxies' 60 s idle
//   timeout, so the proxy, not us, closes idle connections first).
export const TIMEOUTS = {
  headersTimeout: 30_000,
  requestTimeout: 120_000,
  keepAliveTimeout: 72_000,
};

/** The resources the server knows, for 405 + Allow and 400 on bad ids. */
function classifyPath(url: string): { allow: string; segments: string[] } | undefined {
  const path = pathOf(url);
  let m = /^\/api\/([^/]+)\/([^/]+)$/.exec(path);
  if (m) return { allow: [...DOCUMENT_METHODS, 'OPTIONS'].join(', '), segments: [m[1]!, m[2]!] };
  m = /^\/api\/([^/]+)$/.exec(path);
  if (m) return { allow: [...COLLECTION_METHODS, 'OPTIONS'].join(', '), segments: [m[1]!] };
  if (path === '/healthz' || path === '/metrics' || path === '/openapi.json') {
    return { allow: 'GET, HEAD, OPTIONS', segments: [] };
  }
  return undefined;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Requests whose 100 Continue was withheld (body over the limit): their body never comes. */
const withheld = new WeakSet<IncomingMessage>();

/**
 * The front door, before the fast lane and Fastify see a request: the target
 * becomes its one canonical spelling (urls.ts), so every later layer (fast
 * lane, router, authorization, static files) reads the same string; a target
 * without one, and a request Node itself would refuse with a bare 400, get a
 * problem. true = answered.
 */
function frontDoor(req: IncomingMessage, res: ServerResponse): boolean {
  const target = canonicalTarget(req.url ?? '');
  if ('error' in target) {
    writeProblem(res, problem(400, 'bad-request-target', target.error), {
      'x-request-id': genReqId(req),
    });
    return true;
  }
  req.url = target.url;
  // HTTP/1.1 requires Host (RFC 9112 3.2); Node's own check (off, see
  // createServer) would answer a bare 400.
  if (req.httpVersion === '1.1' && !req.headers.host) {
    writeProblem(
      res,
      problem(400, 'missing-host', 'An HTTP/1.1 request needs a non-empty Host header field'),
      { 'x-request-id': genReqId(req) },
    );
    return true;
  }
  return false;
}

/**
 * Answers 413 only after the rest of the body has been read and discarded:
 * a reply written while the client is still sending makes Node reset the
 * connection, and the client then never sees the 413 (DEVELOPERS.md).
 */
async function drainRequest(request: FastifyRequest, maxBytes: number): Promise<void> {
  const raw = request.raw;
  if (raw.complete || raw.destroyed || withheld.has(raw)) return;
  await new Promise<void>((resolve) => {
    let seen = 0;
    const done = () => {
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('close', done);
      raw.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      // Past this the client is not sending a document: stop listening.
      if (seen > maxBytes) {
        raw.destroy();
        done();
      }
    };
    raw.on('data', onData);
    raw.on('end', done);
    raw.on('close', done);
    raw.on('error', done);
    raw.resume();
  });
}

function errorToProblem(error: FastifyError): { status: number; slug: string; detail: string } {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, slug: 'body-too-large', detail: error.message };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, slug: 'unsupported-media-type', detail: error.message };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, slug: 'invalid-content-length', detail: error.message };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, slug: 'invalid-json', detail: error.message };
    case 'FST_ERR_BAD_URL':
      return {
        status: 400,
        slug: 'bad-url',
        detail: 'The URL is not valid (bad percent-encoding)',
      };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        status: 400,
        slug: 'invalid-id',
        detail: 'A path segment is longer than 128 characters',
      };
    case 'FST_ERR_VALIDATION': {
      const ids = /params\/(collection|id)/.test(error.message);
      return {
        status: 400,
        slug: ids ? 'invalid-id' : 'invalid-request',
        detail: ids
          ? `${error.message}: ${SEGMENT_RULE.replace('Collection', 'collection')}`
          : error.message,
      };
    }
  }
  const status = error.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, slug: 'client-error', detail: error.message };
  }
  return {
    status: 500,
    slug: 'internal-error',
    detail: 'The server failed to answer; nothing was written',
  };
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const timeouts = { ...TIMEOUTS, ...options.timeouts };
  // Installed once the store and metrics exist; until then every request goes to Fastify.
  let lane: FastLane | undefined;
  const app = Fastify({
    logger: options.logger ?? false,
    // One line per request instead (request-log.ts, in onResponse below).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    genReqId,
    requestIdHeader: false,
    // Ids up to 128 characters, percent-encoded up to 3x: longer segments are
    // refused by FST_ERR_MAX_PARAM_LENGTH -> 400 problem.
    routerOptions: { maxParamLength: 400 },
    // Our own server so the fast lane sees each request first; Fastify applies
    // no timeouts to a factory's server, so they are all set here.
    serverFactory: (handler) => {
      const server = createServer(
        // Node checks headersTimeout/requestTimeout only this often (default 30 s).
        {
          connectionsCheckingInterval: Math.min(1000, timeouts.headersTimeout),
          // The front door answers a missing Host with a problem instead.
          requireHostHeader: false,
        },
        (req, res) => {
          if (frontDoor(req, res)) return;
          // A bug in the lane must cost one request, never the process: the
          // route answers if nothing was written yet, else the socket goes.
          const laneFailed = (error: unknown) => {
            app.log.error({ err: error }, 'fast lane failed');
            if (res.headersSent) res.destroy();
            else handler(req, res);
          };
          let answered: boolean | Promise<boolean> = false;
          try {
            if (lane !== undefined) answered = lane(req, res);
          } catch (error) {
            laneFailed(error);
            return;
          }
          if (answered === false) handler(req, res);
          else if (answered !== true) {
            answered.then((done) => done || handler(req, res), laneFailed);
          }
        },
      );
      server.headersTimeout = timeouts.headersTimeout;
      server.requestTimeout = timeouts.requestTimeout;
      server.keepAliveTimeout = timeouts.keepAliveTimeout;
      return server;
    },
    // Parser errors (431, 408, malformed HTTP) as problem+json, then close.
    clientErrorHandler,
    // Fastify's own early errors (bad percent-encoding, overlong segments) as problems.
    frameworkErrors: (error, request, reply) => {
      // onRequest hooks do not run for these: set the request id here.
      reply.header('x-request-id', request.id);
      const p = errorToProblem(error as FastifyError);
      sendProblem(reply, problem(p.status, p.slug, p.detail));
    },
  });
  // `Expect: 100-continue` (RFC 9110 10.1.1): a declared body over the limit
  // gets no 100 Continue; the request goes through Fastify as usual, so
  // authorization (onRequest) answers first and the 413 after it, without
  // waiting for a body the client will not send. The connection then closes.
  app.server.on('checkContinue', (req, res) => {
    if (frontDoor(req, res)) return;
    if (Number(req.headers['content-length']) > bodyLimit) withheld.add(req);
    else res.writeContinue();
    app.server.emit('request', req, res);
  });
  // Any other expectation: 417 (Node's own answer has no body).
  app.server.on('checkExpectation', (req, res) => {
    writeProblem(
      res,
      problem(417, 'expectation-failed', 'The only expectation this server meets is 100-continue'),
      { 'x-request-id': genReqId(req), connection: 'close' },
    );
  });
  // CONNECT (Node would close the socket without a word): not a proxy.
  app.server.on('connect', (req: IncomingMessage, socket: import('node:net').Socket) => {
    const body = JSON.stringify(
      problem(405, 'method-not-allowed', 'CONNECT is not supported: this server is not a proxy'),
    );
    socket.end(
      'HTTP/1.1 405 Method Not Allowed\r\n' +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        `X-Request-Id: ${genReqId(req)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });

  const cache = new BodyCache(options.cacheBytes ?? 64 * 1024 * 1024);
  const live = new LiveHub(options.store, cache, options.live);
  const metrics = new Metrics({
    defaultMetrics: options.defaultMetrics ?? true,
    storeQueries: options.store.queryCounts?.bind(options.store),
    liveWaiters: () => live.size,
  });
  const ctx: RouteContext = {
    store: options.store,
    strict: options.strict ?? false,
    bodyLimit,
    cache,
    metrics,
    live,
  };
  app.decorate('live', ctx.live);

  // Every body arrives as raw bytes; the routes check the media type, UTF-8 and
  // JSON themselves so PUT/POST can store exactly what was sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  // Hooks that run on every request are callback style: an async hook costs a
  // promise and a microtask each time.
  app.addHook('onResponse', (request, reply, done) => {
    if (enabled(request.log, 'info')) {
      logRequest(request.log, {
        reqId: request.id,
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        responseTime: reply.elapsedTime,
      });
    }
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  if (options.cors) installCors(app, options.cors);
  // Before every route: authorization is decided before any precondition.
  if (options.auth) await app.register(authPlugin, { config: options.auth });
  metrics.install(app);
  // Graceful shutdown: requests in flight when close() starts still finish, and
  // their responses say Connection: close so keep-alive sockets do not hold
  // the process open until keepAliveTimeout.
  // Waiting requests are answered at once (304 / an empty feed page) and event
  // streams end, so close() does not wait out their --max-wait.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    ctx.live.close();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    if (closing || withheld.has(request.raw)) reply.header('connection', 'close');
    done(null, payload);
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error instanceof StoreUnavailableError) {
      request.log.warn({ err: error }, 'store unavailable');
      reply.header('retry-after', String(error.retryAfterSeconds));
      return sendProblem(
        reply,
        problem(
          503,
          'storage-unavailable',
          'The storage backend cannot answer right now; retry later. A write may or may not have been applied: read before retrying it.',
        ),
      );
    }
    const p = errorToProblem(error);
    if (p.status >= 500) request.log.error({ err: error }, 'request failed');
    if (p.status === 413) {
      await drainRequest(request, Math.max(bodyLimit * 16, 64 * 1024 * 1024));
      reply.header('connection', 'close');
    }
    return sendBodyProblem(reply, request.method, p);
  });

  app.setNotFoundHandler(async (request: FastifyRequest, reply: FastifyReply) => {
    const known = classifyPath(request.url);
    if (known) {
      const decoded = known.segments.map(safeDecode);
      if (decoded.some((s) => !isValidSegment(s))) {
        return sendProblem(reply, problem(400, 'invalid-id', SEGMENT_RULE));
      }
      reply.header('allow', known.allow);
      if (request.method === 'OPTIONS') return reply.code(204).send();
      return sendProblem(
        reply,
        problem(
          405,
          'method-not-allowed',
          `${request.method} is not supported here; allowed: ${known.allow}`,
        ),
      );
    }
    return sendProblem(reply, problem(404, 'not-found', `Nothing at ${pathOf(request.url)}`));
  });

  // GET/HEAD preconditions: the core adapter, validator-first (routes with
  // `config.validators`). Writes evaluate inside the store's transaction.
  await app.register(ifmatch);
  await registerOpenApi(app);

  await healthRoutes(app, options.store);
  app.get(
    '/metrics',
    {
      schema: { summary: 'Prometheus metrics', tags: ['operations'] },
      config: { access: 'token' },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply
        .header('content-type', metrics.registry.contentType)
        .header('cache-control', 'no-store')
        .send(text);
    },
  );
  openApiRoute(app);
  await documentRoutes(app, ctx);
  await collectionRoutes(app, ctx);
  await staticRoutes(app, options.webDist ?? DEFAULT_WEB_DIST);
  if (options.fastLane ?? true) {
    lane = fastLane({
      ...ctx,
      log: app.log,
      open: () => !closing,
      auth: options.auth,
      cors: options.cors && corsPolicy(options.cors),
    });
  }
  return app;
}
