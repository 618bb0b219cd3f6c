import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesETag } from '@ifmatch/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

// The built web app (packages/web/dist), read into memory once at start. Each
// file gets a strong ETag from its bytes; hashed assets are immutable.

/**
 * The web app shipped in an installed package (web/, copied at pack time by
 * scripts/bundle-web.mjs), else packages/web/dist in the workspace; from
 * src/http or dist/http alike.
 */
const WORKSPACE_WEB_DIST = fileURLToPath(new URL('../../../web/dist', import.meta.url));
export const DEFAULT_WEB_DIST =
  [fileURLToPath(new URL('../../web', import.meta.url)), WORKSPACE_WEB_DIST].find((dir) =>
    existsSync(join(dir, 'index.html')),
  ) ?? WORKSPACE_WEB_DIST;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
};

interface StaticFile {
  body: Buffer;
  etag: string;
  type: string;
  cacheControl: string;
}

const PLACEHOLDER = Buffer.from(
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ifmatch</title></head>' +
    '<body><h1>ifmatch</h1><p>The web app is not built. Run <code>npm run build</code> and restart the server.</p>' +
    '<p>The API is at <code>/api/{collection}/{id}</code>; see <a href="/openapi.json">/openapi.json</a>.</p></body></html>',
);

function loadFiles(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) {
        walk(full);
        continue;
      }
      const urlPath = `/${relative(root, full).split(sep).join('/')}`;
      const body = readFileSync(full);
      files.set(urlPath, {
        body,
        etag: bytesETag(body),
        type: TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream',
        // Vite puts content-hashed names under /assets/: they never change.
        cacheControl: urlPath.startsWith('/assets/')
          ? 'public, max-age=31536000, immutable'
          : 'no-cache',
      });
    }
  };
  walk(root);
  return files;
}

export async function staticRoutes(app: FastifyInstance, root: string): Promise<void> {
  const files = existsSync(join(root, 'index.html'))
    ? loadFiles(root)
    : new Map<string, StaticFile>([
        [
          '/index.html',
          {
            body: PLACEHOLDER,
            etag: bytesETag(PLACEHOLDER),
            type: TYPES['.html']!,
            cacheControl: 'no-cache',
          },
        ],
      ]);
  const lookup = (request: FastifyRequest): StaticFile | undefined => {
    const path = request.url.split('?')[0] ?? '/';
    return files.get(path === '/' ? '/index.html' : path);
  };
  app.route({
    method: 'GET',
    url: '/*',
    schema: { hide: true },
    // The web app is public; lookup() takes the canonical path (urls.ts), so no
    // spelling reaches outside the files loaded from the build folder.
    config: {
      access: 'public',
      // Validator-first through the core adapter: a 304 sends no bytes.
      validators: (request: FastifyRequest) => {
        const file = lookup(request);
        return file ? { exists: true, etag: file.etag } : { exists: false };
      },
    },
    onRequest: async (request, reply) => {
      const file = lookup(request);
      if (file) reply.header('cache-control', file.cacheControl);
    },
    handler: async (request, reply) => {
      const file = lookup(request);
      // Not a file: the app-wide not-found handler (405/400 for API paths).
      if (!file) return reply.callNotFound();
      return reply.header('content-type', file.type).header('etag', file.etag).send(file.body);
    },
  });
}
