// Fastify: JSON notes at /notes/:id on PostgreSQL or SQLite. The plugin
// evaluates `config.validators` in preHandler (after body parsing, so 400/415
// come first) and hands the handler `request.ifmatch.condition`: the state the
// store must still hold at commit. The binding writes with one conditional
// statement; when it no longer held, the adapter answers 412 with the current ETag.
import { ifmatch } from '@ifmatch/core/fastify';
import Fastify, { type FastifyRequest } from 'fastify';
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

type NoteRequest = FastifyRequest<{ Params: { id: string }; Body: unknown }>;

export async function start(notes: Notes, port = 0) {
  const app = Fastify();
  await app.register(ifmatch, { strict: true });
  // One parser for every body: PUT takes JSON, PATCH a merge patch (400/415/422 before 412).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, text, done) => {
    const type = request.method === 'PATCH' ? MERGE_PATCH_TYPE : JSON_TYPE;
    const parsed = parseBody(request.headers['content-type'], String(text), type);
    if ('value' in parsed) return done(null, parsed.value);
    done(Object.assign(new Error(parsed.problem.detail), { statusCode: parsed.status }));
  });
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status = error.statusCode ?? 500;
    const problem = { type: 'about:blank', title: error.name, status, detail: error.message };
    return reply.code(status).type(PROBLEM_TYPE).send(problem);
  });

  const config = {
    validators: (r: FastifyRequest) => notes.validators((r as NoteRequest).params.id),
  };
  const route = {
    config,
    schema: {
      params: { type: 'object', properties: { id: { type: 'string', pattern: ID.source } } },
    },
  };
  const state = (request: FastifyRequest) => request.ifmatch!;

  app.get<{ Params: { id: string } }>('/notes/:id', route, async (request, reply) => {
    const note = await notes.read(request.params.id);
    if (note === undefined) return reply.code(404).type(PROBLEM_TYPE).send(NOT_FOUND);
    // The validators of the state read, not of the check before it.
    return reply.headers(noteHeaders(note.validators)).type(JSON_TYPE).send(note.text);
  });
  app.put<{ Params: { id: string } }>('/notes/:id', route, async (request, reply) => {
    const saved = await notes.put(request.params.id, request.body, state(request).condition);
    reply.headers(noteHeaders(saved));
    return saved.created
      ? reply.code(201).type(JSON_TYPE).send(saved.text)
      : reply.code(204).send();
  });
  app.patch<{ Params: { id: string } }>('/notes/:id', route, async (request, reply) => {
    const patch = applyMergePatch(request.body);
    const saved = await notes.patch(request.params.id, patch, state(request).condition);
    return reply.headers(noteHeaders(saved)).type(JSON_TYPE).send(saved.text);
  });
  app.delete<{ Params: { id: string } }>('/notes/:id', route, async (request, reply) => {
    await notes.delete(request.params.id, state(request).condition);
    return reply.code(204).send();
  });

  const url = await app.listen({ port, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}
