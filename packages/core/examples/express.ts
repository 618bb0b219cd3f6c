// Express (4 or 5): JSON notes at /notes/:id on PostgreSQL or SQLite. The body
// parser runs first (400/415 before 412), then `preconditions` evaluates the
// validators and runs the handler with `state.condition`: the state the store
// must still hold at commit. A write whose condition no longer held throws in
// the binding; the adapter answers 412 with the current ETag.
import type { AddressInfo } from 'node:net';
import type { WriteCondition } from '@ifmatch/core';
import { preconditions } from '@ifmatch/core/express';
import express, { type Request, type Response } from 'express';
import {
  applyMergePatch,
  ID,
  JSON_TYPE,
  MERGE_PATCH_TYPE,
  NOT_FOUND,
  type Notes,
  noteHeaders,
  PROBLEM_TYPE,
  parseBody,
} from './notes.js';

// `framework`: Express 5 by default; the tests pass Express 4 too (the adapter takes both).
export function start(notes: Notes, port = 0, framework = express) {
  const app = framework();
  app.set('etag', false); // ours, from the version column, not Express's body hash
  const problem = (res: Response, status: number, body: object) =>
    res.status(status).type(PROBLEM_TYPE).send(JSON.stringify(body));

  app.use('/notes/:id', (req, res, next) => {
    if (!ID.test(String(req.params['id']))) return void problem(res, 404, NOT_FOUND);
    next();
  });
  // Every body as text, then checked: PUT takes JSON, PATCH a merge patch.
  const body = framework.text({ type: () => true, limit: '1mb' });
  const parse = (type: string) => (req: Request, res: Response, next: () => void) => {
    const parsed = parseBody(
      req.get('content-type'),
      typeof req.body === 'string' ? req.body : '',
      type,
    );
    if (!('value' in parsed)) return void problem(res, parsed.status, parsed.problem);
    req.body = parsed.value;
    next();
  };
  const note = (
    handler: (
      req: Request,
      res: Response,
      id: string,
      condition: WriteCondition,
    ) => Promise<unknown>,
  ) =>
    preconditions<Request, Response>(
      (req) => notes.validators(String(req.params['id'])),
      async (req, res, state) => {
        await handler(req, res, String(req.params['id']), state!.condition);
      },
      { strict: true },
    );

  app.get(
    '/notes/:id',
    note(async (_req, res, id) => {
      const found = await notes.read(id);
      if (found === undefined) return problem(res, 404, NOT_FOUND);
      // The validators of the state read, not of the check before it.
      res.set(noteHeaders(found.validators)).type(JSON_TYPE).send(found.text);
    }),
  );
  app.put(
    '/notes/:id',
    body,
    parse(JSON_TYPE),
    note(async (req, res, id, condition) => {
      const saved = await notes.put(id, req.body, condition);
      res.set(noteHeaders(saved));
      if (saved.created) res.status(201).type(JSON_TYPE).send(saved.text);
      else res.status(204).end();
    }),
  );
  app.patch(
    '/notes/:id',
    body,
    parse(MERGE_PATCH_TYPE),
    note(async (req, res, id, condition) => {
      const saved = await notes.patch(id, applyMergePatch(req.body), condition);
      res.set(noteHeaders(saved)).type(JSON_TYPE).send(saved.text);
    }),
  );
  app.delete(
    '/notes/:id',
    note(async (_req, res, id, condition) => {
      await notes.delete(id, condition);
      res.status(204).end();
    }),
  );
  app.use((error: Error & { status?: number }, _req: Request, res: Response, _next: () => void) => {
    const status = error.status ?? 500;
    problem(res, status, { type: 'about:blank', title: error.name, status, detail: error.message });
  });

  return new Promise<{ url: string; close: () => Promise<void> }>((done) => {
    const server = app.listen(port, '127.0.0.1', () => {
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
