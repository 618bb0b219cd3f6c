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
// - Authorization is decided from the route the router matched and its decoded
//   parameters (`config.access` on each route), never from the URL text; the
//   front door (app.ts) has already reduced the target to its one canonical
//   spelling (urls.ts).
// - It runs in onRequest: before the body is parsed and before any route looks
//   at a precondition, so no 401/403/404 from here carries an ETag.
// - No or an unknown token on a document, collection or /metrics route: 401 +
//   `WWW-Authenticate: Bearer`.
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
import { isValidSegment } from './urls.js';

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
      if (collection !== '*' && !isValidSegment(collection)) {
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

const WRITE_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

/**
 * What a route needs, declared in its `config.access`: `public` (the web app,
 * /healthz, /openapi.json), `token` (any valid token: /metrics), `collection`
 * (a token with the scope on the route's decoded `collection` parameter). A
 * matched route that declares nothing needs a token: new routes fail closed.
 */
export type Access = 'public' | 'token' | 'collection';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The authenticated token's name when --auth is on. */
    authName?: string;
  }
}

export type AuthDecision =
  | { ok: true; token: AuthToken | undefined }
  | { ok: false; status: 401 | 403 | 404; slug: string; detail: string; challenge?: string };

/**
 * The access decision for a request that reached a route, from what the router
 * matched (never from the raw URL text): the route's access and its decoded
 * `collection` parameter. Pure, so the early answers (100-continue) share it.
 */
export function authorize(
  config: AuthConfig,
  access: Access,
  collection: unknown,
  method: string,
  authorization: string | string[] | undefined,
  realm = 'ifmatch',
): AuthDecision {
  if (access === 'public') return { ok: true, token: undefined };
  const challenge = `Bearer realm="${realm}"`;
  const presented = bearerToken(authorization);
  if (presented === undefined) {
    return {
      ok: false,
      status: 401,
      slug: 'unauthorized',
      detail: 'Send Authorization: Bearer <token>.',
      challenge,
    };
  }
  const token = findToken(config, presented);
  if (token === undefined) {
    return {
      ok: false,
      status: 401,
      slug: 'unauthorized',
      detail: 'The bearer token is not valid.',
      challenge: `${challenge}, error="invalid_token"`,
    };
  }
  if (access === 'token') return { ok: true, token };
  // A collection route without a usable name refuses like an unreadable one.
  const scopes = typeof collection === 'string' ? scopesFor(token, collection) : new Set<Scope>();
  if (!scopes.has('read')) {
    // The same answer whether or not the document exists: nothing leaks.
    return { ok: false, status: 404, slug: 'not-found', detail: 'No such resource' };
  }
  if (WRITE_METHODS.has(method) && !scopes.has('write')) {
    return {
      ok: false,
      status: 403,
      slug: 'forbidden',
      detail: `The token "${token.name}" may read "${collection}" but not write to it.`,
      challenge: `${challenge}, error="insufficient_scope"`,
    };
  }
  return { ok: true, token };
}

/** The refusal as a problem+json body (the caller sends it). */
export function refusalProblem(decision: Extract<AuthDecision, { ok: false }>) {
  return problem(decision.status, decision.slug, decision.detail);
}

/**
 * With auth on, every answer is private to the credentials: `private,
 * no-cache` (errors keep their stricter no-store) and `Vary: Authorization`.
 * Shared by the hook and the fast lane.
 */
export function privateCaching(
  cacheControl: string,
  vary: string,
): { cacheControl: string; vary: string } {
  return {
    cacheControl: /no-store/i.test(cacheControl) ? 'private, no-store' : 'private, no-cache',
    vary: /(^|,)\s*authorization\s*(,|$)/i.test(vary)
      ? vary
      : vary
        ? `${vary}, Authorization`
        : 'Authorization',
  };
}

/**
 * The debug line "access": what was decided and from what (route matched,
 * its access, the decoded collection). The access test reads these lines.
 */
export function accessLine(
  route: string | undefined,
  access: Access | undefined,
  collection: unknown,
  allowed: boolean,
): Record<string, unknown> {
  return {
    route: route ?? null,
    access: access ?? null,
    collection: access === 'collection' ? collection : undefined,
    allowed,
  };
}

export interface AuthPluginOptions {
  config: AuthConfig;
  realm?: string;
}

/** The access a request's matched route declares; undefined = it reached no route. */
export function accessOf(request: FastifyRequest): Access | undefined {
  if (request.is404) return undefined;
  return request.routeOptions.config.access ?? 'token';
}

/**
 * Registers access control on the whole app (not encapsulated). Register it
 * before the routes so its onRequest hook runs first.
 */
export async function authPlugin(app: FastifyInstance, options: AuthPluginOptions): Promise<void> {
  const { config, realm } = options;

  app.addHook('onRequest', (request, reply, done) => {
    // OPTIONS (CORS preflights, sent without credentials) and requests that
    // reach no route (404/405 from the not-found handler) hold no documents.
    const access = request.method === 'OPTIONS' ? undefined : accessOf(request);
    const params = request.params as Record<string, unknown> | undefined;
    const decision =
      access === undefined
        ? undefined
        : authorize(
            config,
            access,
            params?.collection,
            request.method,
            request.headers.authorization,
            realm,
          );
    request.log.debug(
      accessLine(
        request.is404 ? undefined : request.routeOptions.url,
        access,
        params?.collection,
        decision?.ok ?? true,
      ),
      'access',
    );
    if (decision === undefined) return done();
    if (!decision.ok) {
      if (decision.challenge) reply.header('WWW-Authenticate', decision.challenge);
      sendProblem(reply, refusalProblem(decision));
      return;
    }
    if (decision.token) {
      request.authName = decision.token.name;
      // The name (never the token) on this request's later log lines.
      request.log = request.log.child({ user: decision.token.name });
      reply.log = request.log;
    }
    done();
  });

  // Every response, errors and 304s included: private to the credentials.
  // Errors keep their no-store (stricter than no-cache).
  app.addHook('onSend', (_request, reply, payload, done) => {
    const vary = reply.getHeader('Vary');
    const fields = privateCaching(
      String(reply.getHeader('Cache-Control') ?? ''),
      typeof vary === 'string' ? vary : Array.isArray(vary) ? vary.join(', ') : '',
    );
    reply.header('Cache-Control', fields.cacheControl).header('Vary', fields.vary);
    done(null, payload);
  });
}

// Not encapsulated: the hooks must cover routes registered by the parent app.
(authPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
