import { formatHttpDate, hashBytes } from '@ifmatch/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { StoredValidators } from '../../store/types.js';
import { JSON_TYPE } from '../body.js';
import { jsonBodyOf, type RouteContext, reevaluateRead, setValidatorHeaders } from '../context.js';
import { returnPreference } from '../prefer.js';
import { problem, sendProblem } from '../problem.js';
import { collectionSchemas } from '../schemas.js';
import { COLLECTION_URL, documentPath } from '../urls.js';

export const COLLECTION_METHODS = ['GET', 'HEAD', 'POST'] as const;

interface ListQuery {
  limit: number;
  after?: string;
}

/**
 * The listing's validators: the collection's change counter (bumped in the
 * same transaction as any member write) combined with the query, so two
 * different pages never share a tag. A collection that never had a member
 * lists as empty, with counter 0 and Last-Modified at the epoch.
 */
export function listingValidators(
  collection: StoredValidators | undefined,
  query: ListQuery,
): StoredValidators {
  const base = collection ? collection.etag.slice(1, -1) : 'c0';
  const page = hashBytes(`${query.limit}\n${query.after ?? ''}`);
  return { etag: `"${base}.${page}"`, lastModified: collection?.lastModified ?? 0 };
}

export async function collectionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, cache } = ctx;
  const collectionOf = (request: FastifyRequest) =>
    (request.params as { collection: string }).collection;

  app.route({
    method: 'GET',
    url: COLLECTION_URL,
    schema: collectionSchemas.list,
    config: {
      access: 'collection',
      // The 304 path: the change counter only, never the members.
      validators: async (request: FastifyRequest) => {
        const v = listingValidators(
          await store.collectionValidators(collectionOf(request)),
          request.query as ListQuery,
        );
        return { exists: true, etag: v.etag, lastModified: v.lastModified };
      },
    },
    onRequest: async (_request, reply) => {
      reply.header('cache-control', 'no-cache');
    },
    handler: async (request, reply) => {
      const query = request.query as ListQuery;
      const page = await store.list(collectionOf(request), {
        limit: query.limit,
        ...(query.after !== undefined ? { after: query.after } : {}),
      });
      const evaluated = (request as FastifyRequest).ifmatch?.validators.etag;
      let v: StoredValidators;
      if (page.validators) {
        v = listingValidators(page.validators, query);
        if (v.etag !== evaluated && !reevaluateRead(request, reply, v)) return reply;
      } else {
        // Stores without a snapshot: read the counter after the page, so the
        // tag is never older than the bytes (at worst a needless 200 later).
        v = listingValidators(await store.collectionValidators(collectionOf(request)), query);
      }
      const body = JSON.stringify({
        items: page.items.map((item) => ({
          id: item.id,
          etag: item.etag,
          lastModified: formatHttpDate(item.lastModified),
        })),
        next: page.next,
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
