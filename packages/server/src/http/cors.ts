import type { FastifyInstance } from 'fastify';
import { appendVary } from './context.js';

// CORS for browsers on other origins (CONTRACT "Browsers on other origins").
// Hand-written: a dozen lines of policy that must keep the conditional headers
// readable and allowed, and stay on 304s (set in onRequest, so every answer,
// the adapter's 304 included, starts from these headers).

export const EXPOSED_HEADERS = [
  'ETag',
  'Last-Modified',
  'Location',
  'Content-Location',
  'Content-Range',
  'Accept-Ranges',
  'Accept-Patch',
  'Preference-Applied',
  'Retry-After',
  'X-Request-Id',
].join(', ');

export const ALLOWED_REQUEST_HEADERS = [
  'Content-Type',
  'If-Match',
  'If-None-Match',
  'If-Modified-Since',
  'If-Unmodified-Since',
  'If-Range',
  'Range',
  'Prefer',
  // A cross-origin EventSource sends it when it reconnects (SSE resume).
  'Last-Event-ID',
  'Authorization',
  'X-Request-Id',
].join(', ');

export const ALLOWED_METHODS = 'GET, HEAD, PUT, PATCH, DELETE, POST';

/**
 * The CORS fields of an answer to `origin` (besides `Vary: Origin`, which
 * every answer gets while CORS is on), as a flat [name, value, ...] list:
 * empty for an origin not allowed. Shared by the hook and the fast lane.
 */
export function corsPolicy(origins: readonly string[]): (origin: unknown) => string[] {
  const any = origins.includes('*');
  const allowed = new Set(origins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return (origin) => {
    if (typeof origin !== 'string' || !(any || allowed.has(origin.toLowerCase()))) return [];
    return [
      'access-control-allow-origin',
      any ? '*' : origin,
      'access-control-expose-headers',
      EXPOSED_HEADERS,
    ];
  };
}

export function installCors(app: FastifyInstance, origins: readonly string[]): void {
  const policy = corsPolicy(origins);
  app.addHook('onRequest', (request, reply, done) => {
    // Responses differ by Origin whenever CORS is on: tell caches.
    appendVary(reply, 'Origin');
    const fields = policy(request.headers.origin);
    if (fields.length === 0) return done();
    for (let i = 0; i < fields.length; i += 2) reply.header(fields[i]!, fields[i + 1]!);
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      reply
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_REQUEST_HEADERS)
        .header('access-control-max-age', '600')
        .code(204)
        .send();
      return;
    }
    done();
  });
}

/** `--cors a,b` -> ['a', 'b']; validates each entry is an origin or '*'. */
export function parseCorsOrigins(value: string): string[] {
  const origins = value
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const origin of origins) {
    if (origin === '*') continue;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new Error(
        `--cors: ${JSON.stringify(origin)} is not an origin like https://app.example`,
      );
    }
    if (url.origin !== origin.replace(/\/+$/, '')) {
      throw new Error(`--cors: ${JSON.stringify(origin)} is not an origin (scheme://host[:port])`);
    }
  }
  if (origins.length === 0) throw new Error('--cors needs at least one origin');
  return origins;
}
