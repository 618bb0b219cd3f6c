// Fastify: a versioned note. The plugin reads `config.validators` in preHandler
// (after body parsing and schema validation, so 400/415 come first), answers
// 304/412/428, and hands the validators to the handler in `request.ifmatch`.
// /hello shows body-hash mode for a response without a version.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ifmatch } from '@ifmatch/core/fastify';
import Fastify from 'fastify';

const note = { version: 1, text: 'hello', modified: Date.now() };
const validators = () => ({
  exists: true,
  etag: `"v${note.version}"`,
  lastModified: note.modified,
});

export async function start(port = Number(process.env.PORT ?? 0)) {
  const app = Fastify();
  await app.register(ifmatch, { strict: true });

  app.get('/note', { config: { validators } }, async (request, reply) => {
    reply.type('text/plain; charset=utf-8');
    return `${note.text} (${request.ifmatch?.validators.etag})`;
  });
  app.put<{ Body: string }>('/note', { config: { validators } }, async (request, reply) => {
    note.text = request.body;
    note.version++;
    note.modified = Date.now();
    return reply.code(204).header('ETag', `"v${note.version}"`).send();
  });
  app.get('/hello', { config: { bodyHash: true } }, async () => `Hello, ${note.text}!`);

  const url = await app.listen({ port, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}

// Run directly (`npx vite-node packages/core/examples/fastify.ts`), not when a test imports start().
const main = process.argv[1];
if (
  main?.endsWith('vite-node') ||
  (main && pathToFileURL(resolve(main)).href === import.meta.url)
) {
  const { url } = await start();
  console.log(`Fastify example on ${url} (try: curl -i ${url}/note)`);
}
