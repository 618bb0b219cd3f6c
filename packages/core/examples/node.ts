// node:http: JSON notes at /notes/{id} on PostgreSQL or SQLite. `preconditions`
// looks up the validators (the version column only), answers 304/412/428 and
// runs the handler with `state.condition`: the state the store must still hold
// at commit. Each write is one conditional statement; when the condition no
// longer held, the binding throws and the adapter answers 412 with the current ETag.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { preconditions } from '@ifmatch/core/node';
import {
  applyMergePatch,
  ID,
  JSON_TYPE,
  MAX_BODY,
  MERGE_PATCH_TYPE,
  NOT_FOUND,
  type Notes,
  noteHeaders,
  PROBLEM_TYPE,
  parseBody,
} from './notes.js';

const idOf = (req: IncomingMessage) => /^\/notes\/([^/?]+)$/.exec(req.url ?? '')?.[1];

function send(res: ServerResponse, status: number, headers: Record<string, string>, body = '') {
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function readText(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > MAX_BODY) break; // parseBody answers 413
  }
  return text;
}

export function start(notes: Notes, port = 0) {
  const note = preconditions(
    (req) => notes.validators(idOf(req)!),
    async (req, res, state) => {
      const id = idOf(req)!;
      const { condition } = state!;
      if (req.method === 'GET' || req.method === 'HEAD') {
        const found = await notes.read(id);
        if (found === undefined)
          return send(res, 404, { 'Content-Type': PROBLEM_TYPE }, JSON.stringify(NOT_FOUND));
        // The validators of the state read, not of the check before it.
        return send(
          res,
          200,
          { ...noteHeaders(found.validators), 'Content-Type': JSON_TYPE },
          found.text,
        );
      }
      if (req.method === 'DELETE') {
        await notes.delete(id, condition);
        return send(res, 204, {});
      }
      const body = (req as IncomingMessage & { body: unknown }).body;
      if (req.method === 'PUT') {
        const saved = await notes.put(id, body, condition);
        if (!saved.created) return send(res, 204, noteHeaders(saved));
        return send(res, 201, { ...noteHeaders(saved), 'Content-Type': JSON_TYPE }, saved.text);
      }
      const saved = await notes.patch(id, applyMergePatch(body), condition);
      send(res, 200, { ...noteHeaders(saved), 'Content-Type': JSON_TYPE }, saved.text);
    },
    { strict: true },
  );

  const server = createServer(async (req, res) => {
    const id = idOf(req);
    const method = req.method ?? 'GET';
    if (id === undefined || !ID.test(id))
      return send(res, 404, { 'Content-Type': PROBLEM_TYPE }, JSON.stringify(NOT_FOUND));
    if (!['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
      return send(res, 405, { Allow: 'GET, HEAD, PUT, PATCH, DELETE' });
    }
    if (method === 'PUT' || method === 'PATCH') {
      // The body is checked first: a 400/415 comes before any precondition (RFC 9110 13.2.1).
      const type = method === 'PATCH' ? MERGE_PATCH_TYPE : JSON_TYPE;
      const parsed = parseBody(req.headers['content-type'], await readText(req), type);
      if (!('value' in parsed)) {
        return send(
          res,
          parsed.status,
          { 'Content-Type': PROBLEM_TYPE },
          JSON.stringify(parsed.problem),
        );
      }
      Object.assign(req, { body: parsed.value });
    }
    await note(req, res);
  });
  return new Promise<{ url: string; close: () => Promise<void> }>((done) => {
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const close = () => new Promise<void>((closed) => server.close(() => closed()));
      done({
        url,
        close: () => {
          server.closeAllConnections(); // keep-alive sockets would hold close() open
          return close();
        },
      });
    });
  });
}
