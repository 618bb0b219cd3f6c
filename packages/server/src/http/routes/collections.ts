import { formatHttpDate, hashBytes } from '@ifmatch/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatCursor, parseCursor } from '../../live/cursor.js';
import { feedBody } from '../../live/feed.js';
import { EventStream } from '../../live/sse.js';
import { type ChangePage, ChangesExpiredError, type StoredValidators } from '../../store/types.js';
import { JSON_TYPE } from '../body.js';
import {
  appendVary,
  jsonBodyOf,
  type RouteContext,
  reevaluateRead,
  setValidatorHeaders,
} from '../context.js';
import { returnPreference } from '../prefer.js';
import { type ProblemBody, problem, sendProblem } from '../problem.js';
import { collectionSchemas, FEED_LIMIT, LIST_LIMIT } from '../schemas.js';
import { COLLECTION_URL, documentPath } from '../urls.js';

export const COLLECTION_METHODS = ['GET', 'HEAD', 'POST'] as const;

interface ListQuery {
  limit?: number;
  after?: string;
  since?: string;
}

/**
 * The listing's validators: the collection's change counter (bumped in the
 * same transaction as any member write) combined with the query, so two
 * different pages never share a tag. A collection that never had a member
 * lists as empty, with counter 0 and Last-Modified at the epoch.
 */
export function listingValidators(
  collection: StoredValidators | undefined,
  query: { limit: number; after?: string | undefined },
): StoredValidators {
  const base = collection ? collection.etag.slice(1, -1) : 'c0';
  const page = hashBytes(`${query.limit}\n${query.after ?? ''}`);
  return { etag: `"${base}.${page}"`, lastModified: collection?.lastModified ?? 0 };
}

/** Accept names text/event-stream with a non-zero weight (an EventSource sends exactly that). */
export function acceptsEventStream(accept: string | undefined): boolean {
  if (accept === undefined || !accept.toLowerCase().includes('text/event-stream')) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (type !== 'text/event-stream') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * The three readings of GET /api/{collection}: the event stream (GET with
 * Accept: text/event-stream), the change feed (since), or a listing page.
 * Only the listing has validators (the others are never 304).
 */
type Reading =
  | { kind: 'stream' }
  | { kind: 'feed'; since: string; limit: number }
  | { kind: 'list'; limit: number; after?: string | undefined }
  | { kind: 'bad-limit' };

function readingOf(request: FastifyRequest): Reading {
  const query = request.query as ListQuery;
  if (request.method === 'GET' && acceptsEventStream(request.headers.accept)) {
    return { kind: 'stream' };
  }
  if (query.since !== undefined) {
    return { kind: 'feed', since: query.since, limit: query.limit ?? FEED_LIMIT.default };
  }
  const limit = query.limit ?? LIST_LIMIT.default;
  if (limit > LIST_LIMIT.max) return { kind: 'bad-limit' };
  return { kind: 'list', limit, after: query.after };
}

function badCursor(which: string, reason: 'malformed' | 'foreign'): ProblemBody {
  return problem(
    400,
    'bad-cursor',
    reason === 'malformed'
      ? `${which} is not a cursor (take one from a listing's or a feed page's \`cursor\`, or 0)`
      : `${which} is a cursor of another collection or another database`,
  );
}

function expired(error: ChangesExpiredError): ProblemBody {
  return problem(
    410,
    'cursor-expired',
    'The changes after this cursor are no longer kept: list the collection again and follow the feed from its cursor',
    { oldest: error.oldest },
  );
}

/** How long an EventSource should wait before reconnecting to a server that had no room (ms). */
const FULL_RETRY_MS = 5000;

export async function collectionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, cache, live } = ctx;
  const collectionOf = (request: FastifyRequest) =>
    (request.params as { collection: string }).collection;

  /** GET ?since=: a page of the change log, held with Prefer: wait while it is empty. */
  async function sendFeed(
    request: FastifyRequest,
    reply: FastifyReply,
    reading: Extract<Reading, { kind: 'feed' }>,
  ): Promise<FastifyReply> {
    const collection = collectionOf(request);
    const tag = await live.tag(collection);
    const cursor = parseCursor(reading.since, tag);
    if (!cursor.ok) return sendProblem(reply, badCursor('since', cursor.reason));
    const after = cursor.position;
    reply.header('cache-control', 'no-store');
    let page: ChangePage;
    try {
      const wait = live.appliedWait(request.headers.prefer);
      const held =
        wait === undefined
          ? undefined
          : live.holdFeed(collection, after, reading.limit, wait, reply.raw);
      if (held) {
        reply.header('preference-applied', `wait=${wait}`);
        const woken = await held;
        if (woken.kind === 'changes') page = woken.page;
        // A timeout reads the log once more (a change whose signal never came
        // is then at most one wait late); shutdown answers at once.
        else if (woken.kind === 'timeout') {
          page = await store.changes(collection, { after, limit: reading.limit });
        } else page = { changes: [], position: after };
      } else {
        page = await store.changes(collection, { after, limit: reading.limit });
      }
    } catch (error) {
      if (error instanceof ChangesExpiredError) return sendProblem(reply, expired(error));
      throw error;
    }
    return reply.code(200).header('content-type', 'application/json').send(feedBody(page, tag));
  }

  /** GET with Accept: text/event-stream: the feed as Server-Sent Events. */
  async function sendStream(
    request: FastifyRequest,
    reply: FastifyReply,
    query: ListQuery,
  ): Promise<FastifyReply> {
    const collection = collectionOf(request);
    const tag = await live.tag(collection);
    // An EventSource reconnecting sends the last event's id: it wins over the URL's since.
    const lastEventId = request.headers['last-event-id'];
    const resume = typeof lastEventId === 'string' && lastEventId.trim() !== '';
    const from = resume ? lastEventId.trim() : query.since;
    let after: number;
    if (from !== undefined) {
      const cursor = parseCursor(from, tag);
      if (!cursor.ok) {
        return sendProblem(reply, badCursor(resume ? 'Last-Event-ID' : 'since', cursor.reason));
      }
      after = cursor.position;
      try {
        // Expired is a 410 before the stream starts, not an empty stream.
        await store.changes(collection, { after, limit: 1 });
      } catch (error) {
        if (error instanceof ChangesExpiredError) return sendProblem(reply, expired(error));
        throw error;
      }
    } else {
      // From now: the log's position as of this read; later changes all follow it.
      after = (await store.list(collection, { limit: 1 })).position;
    }
    reply
      .code(200)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-store')
      // nginx and friends would otherwise hold events back to fill a buffer.
      .header('x-accel-buffering', 'no');
    const stream = live.openStream(collection, tag, after, reply.raw);
    if (stream) return reply.send(stream.body);
    // No room (or shutting down): end at once, with where to resume and when.
    const full = new EventStream(reply.raw, live.options.streamBufferBytes);
    full.position(formatCursor(after, tag));
    full.retry(FULL_RETRY_MS);
    full.end();
    return reply.send(full.body);
  }

  app.route({
    method: 'GET',
    url: COLLECTION_URL,
    schema: collectionSchemas.list,
    config: {
      access: 'collection',
      // The 304 path: the change counter only, never the members (listings only).
      validators: async (request: FastifyRequest) => {
        const reading = readingOf(request);
        if (reading.kind !== 'list') return undefined;
        const v = listingValidators(
          await store.collectionValidators(collectionOf(request)),
          reading,
        );
        return { exists: true, etag: v.etag, lastModified: v.lastModified };
      },
    },
    onRequest: async (_request, reply) => {
      // One URL, two media types (JSON, text/event-stream): caches must key on Accept.
      appendVary(reply.header('cache-control', 'no-cache'), 'Accept');
    },
    handler: async (request, reply) => {
      const query = request.query as ListQuery;
      const reading = readingOf(request);
      if (reading.kind === 'stream') return sendStream(request, reply, query);
      if (reading.kind === 'feed') return sendFeed(request, reply, reading);
      if (reading.kind === 'bad-limit') {
        return sendProblem(
          reply,
          problem(
            400,
            'invalid-request',
            `querystring/limit must be <= ${LIST_LIMIT.max} for a listing (${FEED_LIMIT.max} for the feed, with since)`,
          ),
        );
      }
      const collection = collectionOf(request);
      const [page, tag] = await Promise.all([
        store.list(collection, {
          limit: reading.limit,
          ...(reading.after !== undefined ? { after: reading.after } : {}),
        }),
        live.tag(collection),
      ]);
      const evaluated = (request as FastifyRequest).ifmatch?.validators.etag;
      let v: StoredValidators;
      if (page.validators) {
        v = listingValidators(page.validators, reading);
        if (v.etag !== evaluated && !reevaluateRead(request, reply, v)) return reply;
      } else {
        // Stores without a snapshot: read the counter after the page, so the
        // tag is never older than the bytes (at worst a needless 200 later).
        v = listingValidators(await store.collectionValidators(collection), reading);
      }
      const body = JSON.stringify({
        items: page.items.map((item) => ({
          id: item.id,
          etag: item.etag,
          lastModified: formatHttpDate(item.lastModified),
        })),
        next: page.next,
        // Follow the feed from exactly this page's state: ?since=cursor.
        cursor: formatCursor(page.position, tag),
      });
      setValidatorHeaders(reply, v);
      return reply.code(200).header('content-type', 'application/json').send(body);
    },
  });

  app.post(
    COLLECTION_URL,
    { schema: collectionSchemas.create, config: { access: 'collection' } },
    async (request, reply) => {
      const collection = collectionOf(request);
      if (jsonBodyOf(request, reply, [JSON_TYPE]) === undefined) return reply;
      const body = Buffer.from(request.body as Buffer);
      const created = await store.create(collection, body);
      cache.set(created.etag, body);
      const path = documentPath(collection, created.id);
      setValidatorHeaders(reply, created).header('location', path);
      const prefer = returnPreference(request.headers.prefer);
      if (prefer === 'minimal') {
        return reply.header('preference-applied', 'return=minimal').code(204).send();
      }
      return reply
        .header('content-location', path)
        .header('content-type', 'application/json')
        .code(201)
        .send(body);
    },
  );
}
