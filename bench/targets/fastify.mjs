// Fastify 5 with @fastify/etag, as users write it. Modes:
//   typical   reply with the object: Fastify JSON.stringify's it per request
//   bytes     reply with the stored bytes (the best a user can do)
//   compress  stored bytes + @fastify/compress (gzip/br on the fly)
import compress from '@fastify/compress';
import etag from '@fastify/etag';
import Fastify from 'fastify';
import { documents, ready, targetOptions } from './common.mjs';

const { port, mode } = targetOptions();
const { bytes, objects } = documents();

const app = Fastify({ logger: false });
// etag before compress: its onSend hook must see the bytes, not a stream.
await app.register(etag);
if (mode === 'compress') await app.register(compress, { global: true, threshold: 1024 });

app.get('/doc/:size', async (req, reply) => {
  const { size } = req.params;
  if (!(size in bytes)) return reply.code(404).send();
  reply.header('cache-control', 'no-cache');
  if (mode === 'typical') return objects[size];
  reply.type('application/json');
  return bytes[size];
});

await app.listen({ port, host: '127.0.0.1' });
ready(port);
