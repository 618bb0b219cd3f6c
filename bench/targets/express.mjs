// Express 5 with its default ETag (weak, sha1 of the body per response). Modes:
//   typical   res.json(object) per request
//   bytes     res.send(stored bytes) with the content type set
//   compress  stored bytes + the compression middleware
import compression from 'compression';
import express from 'express';
import { documents, ready, targetOptions } from './common.mjs';

const { port, mode } = targetOptions();
const { bytes, objects } = documents();

const app = express();
if (mode === 'compress') app.use(compression({ threshold: 1024 }));

app.get('/doc/:size', (req, res) => {
  const { size } = req.params;
  if (!(size in bytes)) return res.status(404).end();
  res.set('Cache-Control', 'no-cache');
  if (mode === 'typical') return res.json(objects[size]);
  res.type('application/json').send(bytes[size]);
});

app.listen(port, '127.0.0.1', () => ready(port));
