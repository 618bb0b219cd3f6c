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

export const listQuerySchema = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Page size' },
    after: { ...segment("Return ids after this one (the previous page's `next`)") },
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
    summary: 'Read a document (HEAD: headers only)',
    tags: ['documents'],
    params: documentParamsSchema,
    response: {
      200: documentResponse('The stored document, with ETag and Last-Modified'),
      206: documentResponse('A single byte range of the document'),
      304: empty("Not Modified: the client's copy is current"),
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
    summary: "List a page of a collection's members in id order",
    tags: ['collections'],
    params: collectionParamsSchema,
    querystring: listQuerySchema,
    response: {
      200: {
        description: 'A page: { items: [{ id, etag, lastModified }], next }',
        content: {
          'application/json': {
            schema: {
              type: 'object',
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
              },
            },
          },
        },
      },
      304: empty('Not Modified'),
      400: problemResponse('Invalid collection name or query'),
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
