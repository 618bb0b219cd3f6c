// node:http: a versioned note. GET/HEAD answer 304 from the version alone (the
// body is never built for it); PUT must carry If-Match (strict), so no edit is
// lost. /hello shows body-hash mode for a response without a version.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sendWithETag, withPreconditions } from '@ifmatch/core/node';

const note = { version: 1, text: 'hello', modified: Date.now() };

async function readText(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

const noteRoute = withPreconditions(
  // Validators only: a version and a date, no body.
  () => ({ exists: true, etag: `"v${note.version}"`, lastModified: note.modified }),
  async (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(req.method === 'HEAD' ? undefined : note.text);
    } else if (req.method === 'PUT') {
      note.text = await readText(req);
      note.version++;
      note.modified = Date.now();
      res.writeHead(204, { ETag: `"v${note.version}"` }).end();
    } else {
      res.writeHead(405, { Allow: 'GET, HEAD, PUT' }).end();
    }
  },
  { strict: true },
);

export function start(port = Number(process.env.PORT ?? 0)) {
  const server = createServer((req, res) => {
    if (req.url === '/note') return void noteRoute(req, res);
    if (req.url === '/hello') return sendWithETag(req, res, 200, {}, `Hello, ${note.text}!`);
    res.writeHead(404).end();
  });
  return new Promise<{ url: string; close: () => Promise<void> }>((done) => {
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      done({ url, close: () => new Promise((closed) => server.close(() => closed())) });
    });
  });
}

// Run directly (`npx vite-node packages/core/examples/node.ts`), not when a test imports start().
const main = process.argv[1];
if (
  main?.endsWith('vite-node') ||
  (main && pathToFileURL(resolve(main)).href === import.meta.url)
) {
  const { url } = await start();
  console.log(`node:http example on ${url} (try: curl -i ${url}/note)`);
}
