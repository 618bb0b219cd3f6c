// The runtime's limit: node:http with the bytes, the gzip bytes and their
// strong ETags computed once at start. A 304 carries only ETag, Cache-Control,
// Vary and Date (RFC 9110 15.4.5); nothing is read, hashed or serialized per request.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { documents, ready, targetOptions } from './common.mjs';

const { port } = targetOptions();
const { bytes } = documents();

const tag = (buf, suffix) =>
  `"${createHash('sha256').update(buf).digest('base64url').slice(0, 22)}${suffix}"`;

const routes = new Map();
for (const [size, body] of Object.entries(bytes)) {
  const gzip = gzipSync(body);
  routes.set(`/doc/${size}`, {
    identity: { body, etag: tag(body, ''), length: String(body.length) },
    gzip: { body: gzip, etag: tag(body, '.gzip'), length: String(gzip.length) },
  });
}

const server = createServer((req, res) => {
  const route = routes.get(req.url);
  if (route === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'Content-Length': '0' });
    res.end();
    return;
  }
  const accept = req.headers['accept-encoding'];
  const gzip = accept?.includes('gzip');
  const rep = gzip ? route.gzip : route.identity;
  const inm = req.headers['if-none-match'];
  if (inm?.includes(rep.etag)) {
    res.writeHead(304, { ETag: rep.etag, 'Cache-Control': 'no-cache', Vary: 'Accept-Encoding' });
    res.end();
    return;
  }
  const headers = {
    'Content-Type': 'application/json',
    'Content-Length': rep.length,
    ETag: rep.etag,
    'Cache-Control': 'no-cache',
    Vary: 'Accept-Encoding',
  };
  if (gzip) headers['Content-Encoding'] = 'gzip';
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : rep.body);
});
server.listen(port, '127.0.0.1', () => ready(port));
