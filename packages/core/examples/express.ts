// Express 5: a versioned note. `preconditions()` runs after body parsing (so a
// 400 comes first), answers 304/412/428 and leaves the state in res.locals.ifmatch.
// /hello shows body-hash mode for a response without a version.
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bodyETag, preconditions } from '@ifmatch/core/express';
import express from 'express';

const note = { version: 1, text: 'hello', modified: Date.now() };
const validators = () => ({
  exists: true,
  etag: `"v${note.version}"`,
  lastModified: note.modified,
});

export function start(port = Number(process.env.PORT ?? 0)) {
  const app = express();
  app.set('etag', false); // ours, not Express's weak whole-body hash

  app.get('/note', preconditions(validators), (_req, res) => {
    res.type('text/plain').send(note.text);
  });
  app.put('/note', express.text(), preconditions(validators, { strict: true }), (req, res) => {
    note.text = String(req.body);
    note.version++;
    note.modified = Date.now();
    res.status(204).set('ETag', `"v${note.version}"`).end();
  });
  app.get('/hello', bodyETag(), (_req, res) => {
    res.type('text/plain').send(`Hello, ${note.text}!`);
  });

  return new Promise<{ url: string; close: () => Promise<void> }>((done) => {
    const server = app.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      done({ url, close: () => new Promise((closed) => server.close(() => closed())) });
    });
  });
}

// Run directly (`npx vite-node packages/core/examples/express.ts`), not when a test imports start().
const main = process.argv[1];
if (
  main?.endsWith('vite-node') ||
  (main && pathToFileURL(resolve(main)).href === import.meta.url)
) {
  const { url } = await start();
  console.log(`Express example on ${url} (try: curl -i ${url}/note)`);
}
