// The read fast lane: a document GET/HEAD answered straight from node:http,
// before Fastify, when everything the answer needs is at hand: a 304 from the
// stored validators alone, a 200 from the body cache. The answer is the one
// decision of document-read.ts, which the Fastify route makes too; the lane
// only adds the fields the route's hooks would (request id, CORS, auth) with
// the same functions they use. Everything else (refused by auth, absent
// documents, 412, ranges, bodies not cached, odd URLs, store errors, and
// long-polls with Prefer: wait) falls through to the route, which reads the
// store itself.
//
// Why: a 304 is the whole point of validators, and Fastify's per-request
// machinery (request/reply objects, hooks, schema validation, child logger)
// costs several times what the answer itself does (docs/PERFORMANCE.md).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import type { DocumentStore, StoredValidators } from '../store/types.js';
import { type AuthConfig, accessLine, authorize, privateCaching } from './auth.js';
import { decideRead, notModifiedFields, readRequestOf } from './document-read.js';
import type { Metrics } from './metrics.js';
import { waitPreference } from './prefer.js';
import type { BodyCache } from './representation.js';
import { genReqId } from './request-id.js';
import { enabled, logRequest } from './request-log.js';
import { DOCUMENT_URL, matchDocumentPath, pathOf } from './urls.js';

/** true = answered; false = not handled, the caller hands the request to Fastify. */
export type FastLane = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface FastLaneOptions {
  store: DocumentStore;
  cache: BodyCache;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** false while the server shuts down: the route then adds Connection: close. */
  open: () => boolean;
  /** --auth: the lane answers only what the token may read, with the hook's caching fields. */
  auth?: AuthConfig | undefined;
  /** --cors: the CORS hook's fields for a request's Origin (corsPolicy). */
  cors?: ((origin: unknown) => string[]) | undefined;
}

/**
 * The validators the lane read for a request it then handed to the route, so
 * the route does not ask the store again (a second round trip on PostgreSQL).
 * Wrapped, because `undefined` (no such document) is an answer too.
 */
const prefetched = new WeakMap<IncomingMessage, { v: StoredValidators | undefined }>();

/** The lane's read for this request, if it made one; taken once. */
export function takePrefetched(
  req: IncomingMessage,
): { v: StoredValidators | undefined } | undefined {
  const found = prefetched.get(req);
  if (found) prefetched.delete(req);
  return found;
}

/** A field's value in a flat [name, value, ...] list ('' when absent). */
function fieldOf(fields: readonly string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}

/** Sets a field of a flat [name, value, ...] list (names as the decision spells them). */
function setField(fields: string[], name: string, value: (current: string) => string): void {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === name) {
      fields[i + 1] = value(fields[i + 1]!);
      return;
    }
  }
}

export function fastLane(options: FastLaneOptions): FastLane {
  const { store, cache, metrics, log, open, auth, cors } = options;

  function answer(
    req: IncomingMessage,
    res: ServerResponse,
    v: StoredValidators | undefined,
    start: number,
    reqId: string,
    collection: string,
  ): boolean {
    const request = readRequestOf(req);
    const decision = decideRead(request, v);
    if (decision.kind !== 'not-modified' && decision.kind !== 'send') return false;
    let body: Buffer | undefined;
    if (decision.kind === 'send') {
      if (request.range !== undefined) return false; // 206/416 are the route's
      const stored = cache.get(v!.etag);
      body =
        stored &&
        (decision.coding === 'identity' ? stored : cache.codings.peek(v!.etag, decision.coding));
      if (body === undefined) return false; // the route reads and caches it
    }

    // The hooks' fields first, in the order the route's answer has them.
    const fields = ['x-request-id', reqId];
    if (cors) {
      fields.push(...cors(req.headers.origin));
      setField(decision.fields, 'vary', (vary) => `Origin, ${vary}`);
    }
    fields.push(...decision.fields);
    if (auth) {
      const priv = privateCaching(fieldOf(fields, 'cache-control'), fieldOf(fields, 'vary'));
      setField(fields, 'cache-control', () => priv.cacheControl);
      setField(fields, 'vary', () => priv.vary);
    }
    if (auth && enabled(log, 'debug')) {
      const line = accessLine(DOCUMENT_URL, 'collection', collection, true);
      log.debug({ reqId, ...line }, 'access');
    }
    const status = body === undefined ? 304 : 200;
    if (body === undefined) {
      res.writeHead(304, notModifiedFields(fields));
      res.end();
    } else {
      fields.push('content-length', String(body.length));
      res.writeHead(200, fields);
      res.end(request.method === 'HEAD' ? undefined : body);
    }

    const seconds = (performance.now() - start) / 1000;
    metrics.record(
      DOCUMENT_URL,
      request.method,
      status,
      seconds,
      status === 304 ? v!.size : undefined,
    );
    if (enabled(log, 'info')) {
      const url = req.url ?? '';
      logRequest(log, {
        reqId,
        method: request.method,
        url,
        statusCode: status,
        responseTime: seconds * 1000,
      });
    }
    return true;
  }

  return function lane(req, res) {
    const method = req.method;
    if ((method !== 'GET' && method !== 'HEAD') || !open()) return false;
    // The front door made the URL canonical; other shapes are the route's (400/404/405).
    const key = matchDocumentPath(pathOf(req.url ?? ''));
    if (key === undefined) return false;
    // A long-poll (Prefer: wait) is held by the route, not answered here.
    const prefer = req.headers.prefer;
    if (prefer !== undefined && waitPreference(prefer) !== undefined) return false;
    const reqId = genReqId(req);
    // The route's hook decides (and answers) every refusal; the lane only what it allows.
    if (auth) {
      if (!authorize(auth, 'collection', key.collection, method, req.headers.authorization).ok) {
        return false;
      }
    }
    const start = performance.now();
    let found: ReturnType<DocumentStore['validators']>;
    try {
      found = store.validators(key);
    } catch {
      return false; // the route answers store errors (503 and friends)
    }
    const settle = (v: StoredValidators | undefined) => {
      if (answer(req, res, v, start, reqId, key.collection)) return true;
      prefetched.set(req, { v });
      return false;
    };
    // A store failure is the route's to answer (503); a failure of the lane itself rejects.
    if (found instanceof Promise) return found.then(settle, () => false);
    return settle(found);
  };
}
