// Hono: a versioned note on web-standard Request/Response. The middleware
// answers 304/412/428 and puts the state in c.get('ifmatch').
// /hello shows body-hash mode for a response without a version.
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { bodyETag, type IfMatchEnv, preconditions } from '@ifmatch/core/hono';
import { BareNotModifiedResponse } from '@ifmatch/core/node';
import { Hono } from 'hono';

const note = { version: 1, text: 'hello', modified: Date.now() };
const validators = () => ({
  exists: true,
  etag: `"v${note.version}"`,
  lastModified: note.modified,
});

export const app = new Hono<IfMatchEnv>();
app.use('/note', preconditions(validators, { strict: true }));
app.get('/note', (c) => c.text(`${note.text} (${c.get('ifmatch')?.validators.etag})`));
app.put('/note', async (c) => {
  note.text = await c.req.text();
  note.version++;
  note.modified = Date.now();
  return c.body(null, 204, { ETag: `"v${note.version}"` });
});
app.use('/hello', bodyETag());
app.get('/hello', (c) => c.text(`Hello, ${note.text}!`));

export function start(port = Number(process.env.PORT ?? 0)) {
  return new Promise<{ url: string; close: () => Promise<void> }>((done) => {
    const server = serve(
      {
        fetch: app.fetch,
        port,
        hostname: '127.0.0.1',
        // @hono/node-server adds a default Content-Type to every response; not to our 304s.
        serverOptions: { ServerResponse: BareNotModifiedResponse },
      },
      (info: AddressInfo) => {
        const url = `http://127.0.0.1:${info.port}`;
        done({ url, close: () => new Promise((closed) => server.close(() => closed())) });
      },
    );
  });
}

// Run directly (`npx vite-node packages/core/examples/hono.ts`), not when a test imports start().
const main = process.argv[1];
if (
  main?.endsWith('vite-node') ||
  (main && pathToFileURL(resolve(main)).href === import.meta.url)
) {
  const { url } = await start();
  console.log(`Hono example on ${url} (try: curl -i ${url}/note)`);
}
