// Hono 4 with hono/etag on @hono/node-server. Modes:
//   typical   c.json(object) per request
//   bytes     c.body(stored bytes) with the content type set
//   compress  stored bytes + hono/compress
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { compress } from 'hono/compress';
import { etag } from 'hono/etag';
import { documents, ready, targetOptions } from './common.mjs';

const { port, mode } = targetOptions();
const { bytes, objects } = documents();

const app = new Hono();
app.use('/doc/*', etag());
if (mode === 'compress') app.use('/doc/*', compress({ threshold: 1024 }));

app.get('/doc/:size', (c) => {
  const size = c.req.param('size');
  if (!(size in bytes)) return c.body(null, 404);
  c.header('Cache-Control', 'no-cache');
  if (mode === 'typical') return c.json(objects[size]);
  return c.body(bytes[size], 200, { 'Content-Type': 'application/json' });
});

serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => ready(port));
