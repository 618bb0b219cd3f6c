// Route schemas: Fastify validates params and query strings with them (a bad
// id or limit is a 400 problem), and @fastify/swagger turns them into
// /openapi.json. Bodies are not described here on purpose: the server reads
// them as raw bytes (to store them verbatim), so their description is added
// to the OpenAPI document by openapi.ts instead.

import { SEGMENT_PATTERN } from './urls.js';

const segment = (description: string) =>
  ({ type: 'string', pattern: SEGMENT_PATTERN, description }) as const;

export const documentParamsSchema = {
  type: 'object',
  required: ['collection', 'id'],
  properties: {
    collection: segment('Collection name'),
    id: segment('Document id'),
  },
} as const;

export const collectionParamsSchema = {
  type: 'object',
  required: ['collection'],
  properties: { collection: segment('Collection name') },
} as const;

/** Page sizes of the two readings of GET /api/{collection}: the listing's and the feed's. */
export const LIST_LIMIT = { default: 100, max: 1000 } as const;
export const FEED_LIMIT = { default: 1000, max: 10_000 } as const;

export const listQuerySchema = {
  type: 'object',
  properties: {
    // No default here: the listing and the feed default differently (routes/collections.ts).
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: FEED_LIMIT.max,
      description: `Page size: a listing's default ${LIST_LIMIT.default}, at most ${LIST_LIMIT.max}; the feed's (with since) default ${FEED_LIMIT.default}, at most ${FEED_LIMIT.max}`,
    },
    after: { ...segment("Return ids after this one (the previous page's `next`)") },
    since: {
      type: 'string',
      maxLength: 100,
      description:
        "The change feed: every change committed after this cursor (a listing's or a feed page's `cursor`; 0 = from the oldest change kept). Junk or another collection's cursor: 400; a cursor older than the kept changes: 410",
    },
  },
} as const;

const headerField = (description: string) => ({ type: 'string', description }) as const;

/** Request header fields a read may carry (documented in /openapi.json; any value passes). */
const waitHeader = {
  prefer: headerField(
    'RFC 7240 wait=N (seconds): with If-None-Match matching, hold the request until the document changes or N s pass (capped by --max-wait; Preference-Applied: wait=M). Junk is ignored',
  ),
};

export const documentHeadersSchema = { type: 'object', properties: waitHeader } as const;

export const collectionHeadersSchema = {
  type: 'object',
  properties: {
    prefer: headerField(
      'RFC 7240 wait=N (seconds), with since: when nothing came after the cursor, hold the request until a change commits or N s pass (then an empty page)',
    ),
    accept: headerField(
      'text/event-stream: the change feed as Server-Sent Events (from since, Last-Event-ID, or from now)',
    ),
    'last-event-id': headerField(
      'Event stream: resume after this cursor (an event id); overrides since. Junk: 400',
    ),
  },
} as const;

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
});

const documentResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: {} } },
});

const empty = (description: string) => ({ description, type: 'null' });

const common = {
  400: problemResponse('Invalid id, header or body'),
  404: problemResponse('No such document'),
};

export const documentSchemas = {
  get: {
    summary: 'Read a document (HEAD: headers only); Prefer: wait=N to wait for a change',
    tags: ['documents'],
    params: documentParamsSchema,
    headers: documentHeadersSchema,
    response: {
      200: documentResponse('The stored document, with ETag and Last-Modified'),
      206: documentResponse('A single byte range of the document'),
      304: empty(
        "Not Modified: the client's copy is current (with Prefer: wait, still current after the wait)",
      ),
      ...common,
      412: problemResponse('If-Match or If-Unmodified-Since failed'),
      416: problemResponse('Range not satisfiable'),
    },
  },
  put: {
    summary: 'Create or replace a document (If-Match / If-None-Match: *)',
    tags: ['documents'],
    params: documentParamsSchema,
    response: {
      200: documentResponse('Replaced; the stored document with its new ETag'),
      201: documentResponse('Created; Location and ETag'),
      204: empty('Prefer: return=minimal'),
      ...common,
      412: problemResponse(
        'Precondition failed; the current ETag (and with Prefer: return=representation the document in `current`)',
      ),
      413: problemResponse('Body over the limit'),
      415: problemResponse('Not application/json'),
      428: problemResponse('Strict mode: If-Match or If-None-Match required'),
    },
  },
  patch: {
    summary: 'Patch a document (application/merge-patch+json or application/json-patch+json)',
    tags: ['documents'],
    params: documentParamsSchema,
    response: {
      200: documentResponse('The patched document with its new ETag'),
      204: empty('Prefer: return=minimal'),
      ...common,
      409: problemResponse('A JSON Patch test operation failed'),
      412: problemResponse('Precondition failed'),
      413: problemResponse('Body over the limit'),
      415: problemResponse('Not a patch media type (see Accept-Patch)'),
      422: problemResponse('The patch cannot be applied to the document'),
      428: problemResponse('Strict mode: If-Match required'),
    },
  },
  delete: {
    summary: 'Delete a document',
    tags: ['documents'],
    params: documentParamsSchema,
    response: {
      204: empty('Deleted'),
      ...common,
      412: problemResponse('Precondition failed'),
      428: problemResponse('Strict mode: If-Match required'),
    },
  },
};

export const collectionSchemas = {
  list: {
    summary:
      "List a page of a collection's members in id order; with since, its change feed; with Accept: text/event-stream, the feed as Server-Sent Events",
    tags: ['collections'],
    params: collectionParamsSchema,
    querystring: listQuerySchema,
    headers: collectionHeadersSchema,
    response: {
      200: {
        description:
          'A listing page { items: [{ id, etag, lastModified }], next, cursor }; with since a feed page { changes: [{ id, etag, lastModified, deleted }], cursor } (Cache-Control: no-store); as text/event-stream one event per change (id: the cursor after it, event: change, data: the change), a comment line every 15 s',
        content: {
          'application/json': {
            schema: {
              oneOf: [
                {
                  type: 'object',
                  description: 'A listing page',
                  properties: {
                    items: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          id: { type: 'string' },
                          etag: { type: 'string' },
                          lastModified: { type: 'string', description: 'IMF-fixdate' },
                        },
                      },
                    },
                    next: { type: ['string', 'null'] },
                    cursor: {
                      type: 'string',
                      description: 'Follow the feed from this listing: ?since=cursor',
                    },
                  },
                },
                {
                  type: 'object',
                  description: 'A feed page (with since), in commit order',
                  properties: {
                    changes: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          id: { type: 'string' },
                          etag: { type: 'string', description: 'Absent for a deletion' },
                          lastModified: { type: 'string', description: 'IMF-fixdate' },
                          deleted: { type: 'boolean' },
                        },
                      },
                    },
                    cursor: { type: 'string', description: 'The next ?since=' },
                  },
                },
              ],
            },
          },
          'text/event-stream': { schema: { type: 'string' } },
        },
      },
      304: empty('Not Modified'),
      400: problemResponse("Invalid collection name or query, or a cursor that is not this feed's"),
      410: problemResponse('The cursor is older than the changes kept: list again'),
    },
  },
  create: {
    summary: 'Create a document with a server-chosen id',
    tags: ['collections'],
    params: collectionParamsSchema,
    response: {
      201: documentResponse('Created; Location and ETag'),
      204: empty('Prefer: return=minimal'),
      400: problemResponse('Invalid collection name or body'),
      413: problemResponse('Body over the limit'),
      415: problemResponse('Not application/json'),
    },
  },
};
