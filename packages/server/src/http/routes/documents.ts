import {
  type ConditionalHeaders,
  type Evaluation,
  evaluatePreconditions,
  formatHttpDate,
  preconditionFailedProblem,
  preconditionRequired,
  preconditionRequiredProblem,
} from '@ifmatch/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DocKey, StoredDocument, StoredValidators } from '../../store/types.js';
import { JSON_TYPE, PATCH_TYPES } from '../body.js';
import {
  conditionalsOf,
  jsonBodyOf,
  type RouteContext,
  sendNotFound,
  sendNotModified,
  setFields,
  setValidatorHeaders,
} from '../context.js';
import { decideRead, documentValidators, readRequestOf } from '../document-read.js';
import { takePrefetched } from '../fast-lane.js';
import { applyPreparedPatch, type PatchFailure, preparePatch } from '../patch.js';
import { type ReturnPreference, returnPreference } from '../prefer.js';
import { problem, sendProblem } from '../problem.js';
import { parseRange } from '../range.js';
import { documentSchemas } from '../schemas.js';
import { DOCUMENT_URL, documentPath } from '../urls.js';

export const DOCUMENT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'] as const;

type Failed = Extract<Evaluation, { status: 412 }>;
type Refusal =
  | { kind: 'absent' }
  | { kind: 'precondition'; evaluation: Failed }
  | { kind: 'patch'; failure: PatchFailure };

function keyOf(request: FastifyRequest): DocKey {
  const { collection, id } = request.params as { collection: string; id: string };
  return { collection, id };
}

function describe(key: DocKey): string {
  return `Document ${key.collection}/${key.id}`;
}

/** 13.2.2 inside the store's transaction: the check and the write are one step. */
function checkWrite(
  method: string,
  conditional: ConditionalHeaders,
  current: StoredDocument | undefined,
): Failed | undefined {
  // If-Match may name the tag of any content coding of the current state (CONTRACT.md).
  const validators = current ? documentValidators(current, 'identity') : { exists: false };
  const evaluation = evaluatePreconditions(method, conditional, validators);
  if (evaluation.status === 'proceed') return undefined;
  // A write never gets 304; evaluatePreconditions answers 412 for non-GET/HEAD.
  return evaluation.status === 412
    ? evaluation
    : { status: 412, precondition: 'If-None-Match', malformed: false };
}

export async function documentRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, cache, live } = ctx;

  function sendWritten(
    reply: FastifyReply,
    key: DocKey,
    doc: StoredValidators,
    body: Buffer,
    created: boolean,
    prefer: ReturnPreference,
  ): FastifyReply {
    cache.set(doc.etag, body);
    setValidatorHeaders(reply, doc);
    const path = documentPath(key.collection, key.id);
    if (created) reply.header('location', path);
    if (prefer === 'minimal') {
      return reply.header('preference-applied', 'return=minimal').code(204).send();
    }
    if (prefer === 'representation') reply.header('preference-applied', 'return=representation');
    // Content-Location = the target: the body is the resource's new representation.
    return reply
      .header('content-location', path)
      .header('content-type', 'application/json')
      .code(created ? 201 : 200)
      .send(body);
  }

  function sendRefusal(
    reply: FastifyReply,
    key: DocKey,
    refusal: Refusal,
    current: StoredDocument | undefined,
    prefer: ReturnPreference,
  ): FastifyReply {
    if (refusal.kind === 'absent') return sendNotFound(reply, describe(key));
    if (refusal.kind === 'patch') {
      const f = refusal.failure;
      if (current) reply.header('etag', current.etag);
      return sendProblem(reply, problem(f.status, f.slug, f.detail));
    }
    const body = preconditionFailedProblem(refusal.evaluation, current?.etag);
    if (!current) return sendProblem(reply, body);
    reply
      .header('etag', current.etag)
      .header('last-modified', formatHttpDate(current.lastModified));
    if (prefer === 'representation') {
      // CONTRACT: the 412 stays problem+json; the current document rides in a
      // `current` member (verbatim stored bytes) next to `etag`.
      reply.header('preference-applied', 'return=representation');
      return sendProblem(reply, body, { current: current.body });
    }
    return sendProblem(reply, body);
  }

  /** 428 in strict mode; runs after the body checks (400/413/415) and before 404. */
  function requirePrecondition(
    request: FastifyRequest,
    reply: FastifyReply,
    conditional: ConditionalHeaders,
  ): boolean {
    if (!ctx.strict || !preconditionRequired(request.method, conditional)) return false;
    sendProblem(reply, preconditionRequiredProblem(request.method));
    return true;
  }

  // GET and HEAD: the one read decision (document-read.ts), also made by the
  // fast lane, against validators() first, so a 304 never reads the body.
  app.route({
    method: 'GET',
    url: DOCUMENT_URL,
    schema: documentSchemas.get,
    config: { access: 'collection' },
    handler: async (request, reply) => {
      const key = keyOf(request);
      const read = readRequestOf(request.raw);
      // The fast lane may have read them already for this request (it then handed it over).
      const pre = takePrefetched(request.raw);
      let v = pre ? pre.v : await store.validators(key);
      let decision = decideRead(read, v);
      let body: Buffer | undefined;
      // Prefer: wait (the long-poll): a 304 is held until the state changes,
      // then answered by this same decision; a timeout is the same 304.
      if (decision.kind === 'not-modified' && request.headers.prefer !== undefined) {
        const wait = live.appliedWait(request.headers.prefer);
        const held = wait === undefined ? undefined : live.holdDocument(key, read, wait, reply.raw);
        if (held) {
          reply.header('preference-applied', `wait=${wait}`);
          const woken = await held;
          if (woken.kind === 'changed') {
            ({ v, body } = woken);
            decision = decideRead(read, v);
          } else if (woken.kind === 'timeout') {
            // The timeout's answer is read now, not remembered from the start:
            // a change whose signal never came (another instance died between
            // its COMMIT and its NOTIFY) is then at most one wait late.
            v = await store.validators(key);
            decision = decideRead(read, v);
          }
        }
      }
      if (v !== undefined && (decision.kind === 'send' || decision.kind === 'needs-size')) {
        body ??= cache.get(v.etag);
        if (body === undefined) {
          const stored = await store.read(key);
          if (stored) cache.set(stored.etag, stored.body);
          body = stored?.body;
          // A write may have landed since validators(): decide for what we send.
          v = stored && {
            etag: stored.etag,
            lastModified: stored.lastModified,
            size: stored.body.length,
          };
        } else v = { ...v, size: body.length };
        decision = decideRead(read, v);
      }
      request.representationSize = v?.size;
      switch (decision.kind) {
        case 'absent':
        case 'needs-size': // (not after a read: the size is known then)
          return sendNotFound(reply, describe(key));
        case 'failed':
          reply.header('etag', decision.etag);
          return sendProblem(reply, preconditionFailedProblem(decision.evaluation, decision.etag));
        case 'not-modified':
          setFields(reply, decision.fields);
          return sendNotModified(reply);
      }
      setFields(reply, decision.fields);
      const sent = await cache.codings.get(v!.etag, decision.coding, body!);
      if (decision.range && request.method === 'GET') {
        const range = parseRange(read.range, sent.length);
        if (range.kind === 'unsatisfiable') {
          reply.removeHeader('content-type');
          reply.header('content-range', `bytes */${sent.length}`);
          return sendProblem(
            reply,
            problem(416, 'range-not-satisfiable', `The document is ${sent.length} bytes long`),
          );
        }
        if (range.kind === 'single') {
          return reply
            .code(206)
            .header('content-range', `bytes ${range.start}-${range.end}/${sent.length}`)
            .send(sent.subarray(range.start, range.end + 1));
        }
      }
      return reply.code(200).send(sent);
    },
  });

  app.put(
    DOCUMENT_URL,
    { schema: documentSchemas.put, config: { access: 'collection' } },
    async (request, reply) => {
      const key = keyOf(request);
      if (jsonBodyOf(request, reply, [JSON_TYPE]) === undefined) return reply;
      const conditional = conditionalsOf(request);
      if (requirePrecondition(request, reply, conditional)) return reply;
      const prefer = returnPreference(request.headers.prefer);
      // The exact bytes received: the response's ETag names what the client sent.
      const body = Buffer.from(request.body as Buffer);
      const outcome = await store.write<Refusal>(key, (current) => {
        const failed = checkWrite('PUT', conditional, current);
        if (failed)
          return { action: 'refuse', result: { kind: 'precondition', evaluation: failed } };
        return { action: 'put', body };
      });
      if (outcome.action === 'refuse') {
        return sendRefusal(reply, key, outcome.result, outcome.current, prefer);
      }
      if (outcome.action !== 'put') throw new Error('unexpected store outcome');
      return sendWritten(reply, key, outcome.doc, body, outcome.created, prefer);
    },
  );

  app.patch(
    DOCUMENT_URL,
    { schema: documentSchemas.patch, config: { access: 'collection' } },
    async (request, reply) => {
      const key = keyOf(request);
      const json = jsonBodyOf(request, reply, PATCH_TYPES);
      if (json === undefined) return reply;
      const patch = preparePatch(json.type, json.value);
      if ('status' in patch)
        return sendProblem(reply, problem(patch.status, patch.slug, patch.detail));
      const conditional = conditionalsOf(request);
      if (requirePrecondition(request, reply, conditional)) return reply;
      const prefer = returnPreference(request.headers.prefer);
      let written: Buffer | undefined;
      const outcome = await store.write<Refusal>(key, (current) => {
        if (!current) return { action: 'refuse', result: { kind: 'absent' } };
        const failed = checkWrite('PATCH', conditional, current);
        if (failed)
          return { action: 'refuse', result: { kind: 'precondition', evaluation: failed } };
        // Applied to the very state this transaction replaces: atomic even
        // without If-Match.
        const applied = applyPreparedPatch(current.body, patch, ctx.bodyLimit);
        if ('status' in applied)
          return { action: 'refuse', result: { kind: 'patch', failure: applied } };
        written = applied.body;
        return { action: 'put', body: applied.body };
      });
      if (outcome.action === 'refuse') {
        return sendRefusal(reply, key, outcome.result, outcome.current, prefer);
      }
      if (outcome.action !== 'put' || !written) throw new Error('unexpected store outcome');
      return sendWritten(reply, key, outcome.doc, written, false, prefer);
    },
  );

  app.delete(
    DOCUMENT_URL,
    { schema: documentSchemas.delete, config: { access: 'collection' } },
    async (request, reply) => {
      const key = keyOf(request);
      const conditional = conditionalsOf(request);
      if (requirePrecondition(request, reply, conditional)) return reply;
      const prefer = returnPreference(request.headers.prefer);
      const outcome = await store.write<Refusal>(key, (current) => {
        if (!current) return { action: 'refuse', result: { kind: 'absent' } };
        const failed = checkWrite('DELETE', conditional, current);
        if (failed)
          return { action: 'refuse', result: { kind: 'precondition', evaluation: failed } };
        return { action: 'delete' };
      });
      if (outcome.action === 'refuse') {
        return sendRefusal(reply, key, outcome.result, outcome.current, prefer);
      }
      return reply.code(204).send();
    },
  );
}
