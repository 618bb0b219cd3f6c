// The read fast lane: a document GET/HEAD answered straight from node:http,
// before Fastify, when everything the answer needs is at hand: a 304 from the
// stored validators alone, a 200 from the body cache. Everything else (absent
// documents, 412, ranges, bodies not yet cached, odd URLs, store errors) falls
// through to the Fastify route, which is the reference behaviour; the fast
// lane's tests hold the two answers field for field (fast-lane.test.ts).
//
// Why: a 304 is the whole point of validators, and Fastify's per-request
// machinery (request/reply objects, hooks, schema validation, child logger)
// costs several times what the answer itself does (docs/PERFORMANCE.md).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  codingETag,
  conditionalHeaders,
  evaluatePreconditions,
  formatHttpDate,
  isNotModifiedHeader,
} from '@ifmatch/core';
import type { FastifyBaseLogger } from 'fastify';
import type { DocumentStore, StoredValidators } from '../store/types.js';
import { codingFor, codingTags } from './compression.js';
import type { Metrics } from './metrics.js';
import type { BodyCache } from './representation.js';
import { genReqId } from './request-id.js';
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
}

const ROUTE = DOCUMENT_URL;

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

/** One formatted Last-Modified kept: a hot document asks for the same one again and again. */
let lastDate = { ms: Number.NaN, text: '' };
function httpDate(ms: number): string {
  if (lastDate.ms !== ms) lastDate = { ms, text: formatHttpDate(ms) };
  return lastDate.text;
}

/** pino's check; a logger without it (a custom one) is asked through its level name. */
function infoEnabled(log: FastifyBaseLogger): boolean {
  const pino = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  if (typeof pino.isLevelEnabled === 'function') return pino.isLevelEnabled('info');
  return ['info', 'debug', 'trace'].includes(log.level);
}

export function fastLane(options: FastLaneOptions): FastLane {
  const { store, cache, metrics, log, open } = options;

  function answer(
    req: IncomingMessage,
    res: ServerResponse,
    v: StoredValidators | undefined,
    start: number,
  ): boolean {
    if (v === undefined) return false; // the route's 404 problem
    // Without the size the coding cannot be chosen as the route's 200 would.
    if (v.size === undefined) return false;
    const method = req.method as 'GET' | 'HEAD';
    const coding = codingFor(req.headers['accept-encoding'], v.size);
    // The other codings' tags only matter to If-Match (any coding of the state passes).
    const tags =
      req.headers['if-match'] === undefined
        ? { etag: codingETag(v.etag, coding), alternateETags: [] }
        : codingTags(v.etag, coding);
    const evaluation = evaluatePreconditions(method, conditionalHeaders(req.headersDistinct), {
      exists: true,
      etag: tags.etag,
      alternateETags: tags.alternateETags,
      lastModified: v.lastModified,
    });
    if (evaluation.status === 412) return false; // the route's problem+json
    let body: Buffer | undefined;
    if (evaluation.status === 'proceed') {
      if (req.headers.range !== undefined) return false; // 206/416 are the route's
      const stored = cache.get(v.etag);
      body = stored && (coding === 'identity' ? stored : cache.codings.peek(v.etag, coding));
      if (body === undefined) return false; // the route reads and caches it
    }

    const reqId = genReqId(req);
    // The fields of the route's 200, in its order; a 304 keeps what RFC 9110
    // 15.4.5 lets it (core's rule), which drops the body fields and Last-Modified.
    const fields: string[] = [
      'x-request-id',
      reqId,
      'cache-control',
      'no-cache',
      'vary',
      'Accept-Encoding',
      'etag',
      tags.etag,
      'last-modified',
      httpDate(v.lastModified),
      'accept-ranges',
      'bytes',
      'content-type',
      'application/json',
    ];
    if (coding !== 'identity') fields.push('content-encoding', coding);
    let status = 200;
    if (body === undefined) {
      status = 304;
      const kept: string[] = [];
      for (let i = 0; i < fields.length; i += 2) {
        if (isNotModifiedHeader(fields[i]!, true)) kept.push(fields[i]!, fields[i + 1]!);
      }
      res.writeHead(304, kept);
      res.end();
    } else {
      fields.push('content-length', String(body.length));
      res.writeHead(200, fields);
      res.end(method === 'HEAD' ? undefined : body);
    }

    const seconds = (performance.now() - start) / 1000;
    metrics.record(ROUTE, method, status, seconds, status === 304 ? v.size : undefined);
    if (infoEnabled(log)) {
      // The same two lines, with the same serializers, as Fastify's request logging.
      const request = {
        method,
        url: req.url,
        headers: req.headers,
        host: req.headers.host,
        ip: req.socket.remoteAddress,
        socket: req.socket,
      };
      log.info({ reqId, req: request }, 'incoming request');
      log.info(
        { reqId, res: { statusCode: status }, responseTime: seconds * 1000 },
        'request completed',
      );
    }
    return true;
  }

  return function lane(req, res) {
    const method = req.method;
    if ((method !== 'GET' && method !== 'HEAD') || !open()) return false;
    // The front door made the URL canonical; other shapes are the route's (400/404/405).
    const key = matchDocumentPath(pathOf(req.url ?? ''));
    if (key === undefined) return false;
    const start = performance.now();
    let found: ReturnType<DocumentStore['validators']>;
    try {
      found = store.validators(key);
    } catch {
      return false; // the route answers store errors (503 and friends)
    }
    const settle = (v: StoredValidators | undefined) => {
      if (answer(req, res, v, start)) return true;
      prefetched.set(req, { v });
      return false;
    };
    if (found instanceof Promise) return found.then(settle, () => false);
    return settle(found);
  };
}
