// Bearer-token access control (`ifmatch serve --auth tokens.json`), off by default.
//
// The tokens file:
//   { "tokens": [
//       { "name": "alice", "token": "…at least 16 characters…",
//         "scopes": { "notes": ["read", "write"], "*": ["read"] } },
//       { "name": "ci", "sha256": "<64 hex digits: SHA-256 of the token>",
//         "scopes": { "*": ["read", "write"] } } ] }
// A collection's own entry replaces the "*" entry (so `"secret": []` hides one
// collection from a token that may read everything else).
//
// Decisions (docs/RELIABILITY.md):
// - Authorization runs in onRequest: before the body is parsed and before any
//   route looks at a precondition, so no 401/403/404 from here carries an ETag.
// - No or an unknown token on /api/*: 401 + `WWW-Authenticate: Bearer`.
// - A token without read scope on a collection gets 404 for everything in it,
//   whatever preconditions it sends: it learns nothing about its documents.
// - A token that may read but not write gets 403 for writes.
// - /healthz, /openapi.json and the web app stay public (they hold no
//   documents); /metrics needs any valid token. OPTIONS (CORS preflights,
//   which browsers send without credentials) passes through.
// - With auth on, every response is `Cache-Control: private, no-cache` with
//   `Vary: Authorization`: a shared cache never stores one, a private cache
//   revalidates and keys by the credentials.
// - Tokens are compared in constant time over SHA-256 digests, against every
//   configured token without an early exit; the token itself is never logged.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { problem, sendProblem } from './problem.js';

export type Scope = 'read' | 'write';

export interface AuthToken {
  name: string;
  /** SHA-256 of the token: the plaintext is not kept in memory after loading. */
  digest: Buffer;
  /** collection (or "*") -> scopes. */
  scopes: ReadonlyMap<string, ReadonlySet<Scope>>;
}

export interface AuthConfig {
  tokens: readonly AuthToken[];
}

export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}

const MIN_TOKEN_LENGTH = 16;
// RFC 6750 b64token: the characters a bearer token may hold.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const COLLECTION = /^[A-Za-z0-9._~-]{1,128}$/;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a parsed tokens file; throws AuthConfigError naming the first problem. */
export function parseAuthConfig(json: unknown): AuthConfig {
  if (!isRecord(json) || !Array.isArray(json.tokens)) {
    throw new AuthConfigError('expected an object {"tokens": [...]}');
  }
  const names = new Set<string>();
  const digests: Buffer[] = [];
  const tokens = json.tokens.map((entry: unknown, i: number): AuthToken => {
    const where = `tokens[${i}]`;
    if (!isRecord(entry)) throw new AuthConfigError(`${where}: expected an object`);
    const { name, token, sha256: hex, scopes } = entry;
    if (typeof name !== 'string' || name.length === 0) {
      throw new AuthConfigError(`${where}: "name" must be a non-empty string`);
    }
    if (names.has(name)) throw new AuthConfigError(`${where}: duplicate name "${name}"`);
    names.add(name);
    let digest: Buffer;
    if (typeof token === 'string' && hex === undefined) {
      if (token.length < MIN_TOKEN_LENGTH || !B64TOKEN.test(token)) {
        throw new AuthConfigError(
          `${where} (${name}): "token" must be at least ${MIN_TOKEN_LENGTH} characters of [A-Za-z0-9-._~+/]`,
        );
      }
      digest = sha256(token);
    } else if (typeof hex === 'string' && token === undefined) {
      if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
        throw new AuthConfigError(`${where} (${name}): "sha256" must be 64 hex digits`);
      }
      digest = Buffer.from(hex, 'hex');
    } else {
      throw new AuthConfigError(`${where} (${name}): give exactly one of "token" or "sha256"`);
    }
    if (digests.some((d) => d.equals(digest))) {
      throw new AuthConfigError(`${where} (${name}): the same token is listed twice`);
    }
    digests.push(digest);
    if (!isRecord(scopes)) {
      throw new AuthConfigError(`${where} (${name}): "scopes" must be an object`);
    }
    const map = new Map<string, Set<Scope>>();
    for (const [collection, list] of Object.entries(scopes)) {
      if (collection !== '*' && (!COLLECTION.test(collection) || /^\.\.?$/.test(collection))) {
        throw new AuthConfigError(`${where} (${name}): "${collection}" is not a collection name`);
      }
      if (!Array.isArray(list) || !list.every((s) => s === 'read' || s === 'write')) {
        throw new AuthConfigError(
          `${where} (${name}): scopes of "${collection}" must be a list of "read" and "write"`,
        );
      }
      map.set(collection, new Set(list as Scope[]));
    }
    return { name, digest, scopes: map };
  });
  if (tokens.length === 0) throw new AuthConfigError('"tokens" is empty: nobody could get in');
  return { tokens };
}

/** Reads and validates a tokens file; errors name the file. */
export async function loadAuthConfig(path: string): Promise<AuthConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AuthConfigError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AuthConfigError(`${path}: not valid JSON`);
  }
  try {
    return parseAuthConfig(json);
  } catch (err) {
    throw new AuthConfigError(`${path}: ${(err as Error).message}`);
  }
}

/** The token whose digest equals the presented one, compared in constant time. */
export function findToken(config: AuthConfig, presented: string): AuthToken | undefined {
  const digest = sha256(presented);
  let found: AuthToken | undefined;
  // Every entry is compared, match or not, so timing does not tell which one matched.
  for (const entry of config.tokens) {
    if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
  }
  return found;
}

export function scopesFor(token: AuthToken, collection: string): ReadonlySet<Scope> {
  return token.scopes.get(collection) ?? token.scopes.get('*') ?? new Set();
}

/** The token from `Authorization: Bearer <token>`, or undefined when absent or malformed. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer +([^ ]+) *$/i.exec(header);
  const token = match?.[1];
  return token !== undefined && B64TOKEN.test(token) ? token : undefined;
}

// problem.ts has no titles for these two: give them here.
const UNAUTHORIZED = { title: 'Unauthorized' };

const WRITE_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated token's name when --auth is on. */
    authName?: string;
  }
}

/** The collection the request addresses, as the router decoded it (undefined: none). */
function collectionOf(request: FastifyRequest, path: string): string | undefined {
  const params = request.params as Record<string, unknown> | undefined;
  if (params && typeof params.collection === 'string') return params.collection;
  const segment = path.split('/')[2];
  if (segment === undefined || segment === '') return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export interface AuthPluginOptions {
  config: AuthConfig;
  realm?: string;
}

/**
 * Registers access control on the whole app (not encapsulated). Register it
 * before the routes so its onRequest hook runs first.
 */
export async function authPlugin(app: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const { config } = options;
  const realm = options.realm ?? 'ifmatch';
  const challenge = `Bearer realm="${realm}"`;

  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return;
    const path = request.url.split('?', 1)[0] ?? '';
    const isApi = path === '/api' || path.startsWith('/api/');
    if (!isApi && path !== '/metrics') return;

    const presented = bearerToken(request.headers.authorization);
    if (presented === undefined) {
      reply.header('WWW-Authenticate', challenge);
      return sendProblem(
        reply,
        problem(401, 'unauthorized', 'Send Authorization: Bearer <token>.', UNAUTHORIZED),
      );
    }
    const token = findToken(config, presented);
    if (token === undefined) {
      reply.header('WWW-Authenticate', `${challenge}, error="invalid_token"`);
      return sendProblem(
        reply,
        problem(401, 'unauthorized', 'The bearer token is not valid.', UNAUTHORIZED),
      );
    }
    request.authName = token.name;
    // The name (never the token) on this request's later log lines.
    request.log = request.log.child({ user: token.name });
    reply.log = request.log;
    if (!isApi) return;

    const collection = collectionOf(request, path);
    // No collection (e.g. /api/) or an invalid name: the routes answer 404/400.
    if (collection === undefined) return;
    const scopes = scopesFor(token, collection);
    if (!scopes.has('read')) {
      // The same answer whether or not the document exists: nothing leaks.
      return sendProblem(reply, problem(404, 'not-found', `No such resource: ${path}`));
    }
    if (WRITE_METHODS.has(request.method) && !scopes.has('write')) {
      reply.header('WWW-Authenticate', `${challenge}, error="insufficient_scope"`);
      return sendProblem(
        reply,
        problem(
          403,
          'forbidden',
          `The token "${token.name}" may read "${collection}" but not write to it.`,
          { title: 'Forbidden' },
        ),
      );
    }
  });

  // Every response, errors and 304s included: private to the credentials.
  // Errors keep their no-store (stricter than no-cache).
  app.addHook('onSend', async (_request, reply, payload) => {
    const current = String(reply.getHeader('Cache-Control') ?? '');
    reply.header(
      'Cache-Control',
      /no-store/i.test(current) ? 'private, no-store' : 'private, no-cache',
    );
    const vary = reply.getHeader('Vary');
    const list = typeof vary === 'string' ? vary : Array.isArray(vary) ? vary.join(', ') : '';
    if (!/(^|,)\s*authorization\s*(,|$)/i.test(list)) {
      reply.header('Vary', list ? `${list}, Authorization` : 'Authorization');
    }
    return payload;
  });
}

// Not encapsulated: the hooks must cover routes registered by the parent app.
(authPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
