import {
  type ConditionalHeaders,
  conditionalHeaders,
  type Evaluation,
  evaluatePreconditions,
  formatHttpDate,
  isNotModifiedHeader,
  preconditionFailedProblem,
  type Validators,
} from '@ifmatch/core';
import { guardNotModified } from '@ifmatch/core/node';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LiveHub } from '../live/waiters.js';
import type { DocumentStore, StoredValidators } from '../store/types.js';
import { ACCEPT_PATCH, type BodyError, isBodyError, readJsonBody } from './body.js';
import type { Metrics } from './metrics.js';
import { problem, sendProblem } from './problem.js';
import type { BodyCache } from './representation.js';

/** What the routes share; built once per app. */
export interface RouteContext {
  store: DocumentStore;
  strict: boolean;
  bodyLimit: number;
  cache: BodyCache;
  metrics: Metrics;
  /** Waiting requests (Prefer: wait) and event streams (src/live/). */
  live: LiveHub;
}

export function conditionalsOf(request: FastifyRequest): ConditionalHeaders {
  // rawHeaders, every line kept (Node's req.headers joins repeated If-Match
  // lines and drops repeated dates), without building headersDistinct.
  return conditionalHeaders(request.raw.rawHeaders);
}

export function toValidators(v: StoredValidators | undefined): Validators {
  return v ? { exists: true, etag: v.etag, lastModified: v.lastModified } : { exists: false };
}

/** Adds tokens to Vary without dropping those set earlier (CORS adds Origin, codings Accept-Encoding). */
export function appendVary(reply: FastifyReply, value: string): FastifyReply {
  const current = reply.getHeader('vary');
  if (current === undefined && !value.includes(',')) return reply.header('vary', value.trim());
  const list = Array.isArray(current)
    ? current.join(', ')
    : current === undefined
      ? ''
      : String(current);
  const have = new Set(
    list
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
  const add = value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '' && !have.has(t.toLowerCase()));
  if (add.length === 0) return reply;
  return reply.header('vary', list ? `${list}, ${add.join(', ')}` : add.join(', '));
}

/** The validator fields every 200/201 document or listing response carries. */
export function setValidatorHeaders(reply: FastifyReply, v: StoredValidators): FastifyReply {
  return reply
    .header('etag', v.etag)
    .header('last-modified', formatHttpDate(v.lastModified))
    .header('cache-control', 'no-cache');
}

/** Sets a flat [name, value, ...] field list on the reply; Vary tokens add to those set earlier. */
export function setFields(reply: FastifyReply, fields: readonly string[]): FastifyReply {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.toLowerCase() === 'vary') appendVary(reply, fields[i + 1]!);
    else reply.header(name, fields[i + 1]!);
  }
  return reply;
}

/**
 * Answers 304 from the fields already on the reply (the hooks' and the 200's),
 * keeping only what RFC 9110 15.4.5 allows (core's rule).
 */
export function sendNotModified(reply: FastifyReply): FastifyReply {
  const names = Object.keys(reply.getHeaders());
  const hasETag = names.includes('etag');
  for (const name of names) if (!isNotModifiedHeader(name, hasETag)) reply.removeHeader(name);
  // Fastify's HEAD routes add Content-Length in an onSend after ours; a 304 must not carry it.
  guardNotModified(reply.raw);
  return reply.code(304).send();
}

export function sendNotFound(reply: FastifyReply, what: string): FastifyReply {
  return sendProblem(reply, problem(404, 'not-found', `${what} does not exist`));
}

/**
 * A listing's answer for a state that differs from the one the adapter
 * evaluated (a write landed in between): evaluate again against the state we
 * are about to send. Returns the evaluation when the request may proceed, or
 * undefined when this function already answered (304/412).
 */
export function reevaluateRead(
  request: FastifyRequest,
  reply: FastifyReply,
  v: StoredValidators,
): Extract<Evaluation, { status: 'proceed' }> | undefined {
  const evaluation = evaluatePreconditions(
    request.method,
    conditionalsOf(request),
    toValidators(v),
  );
  if (evaluation.status === 'proceed') return evaluation;
  if (evaluation.status === 304) {
    sendNotModified(setValidatorHeaders(reply, v));
    return undefined;
  }
  reply.header('etag', v.etag);
  sendProblem(reply, preconditionFailedProblem(evaluation, v.etag));
  return undefined;
}

/** A body's 400/413/415 problem; a PATCH's 415 names the patch formats (RFC 5789 3.1). */
export function sendBodyProblem(
  reply: FastifyReply,
  method: string,
  p: { status: number; slug: string; detail: string },
): FastifyReply {
  if (p.status === 415 && method === 'PATCH') reply.header('accept-patch', ACCEPT_PATCH);
  return sendProblem(reply, problem(p.status, p.slug, p.detail));
}

/**
 * The request's body as JSON of one of `types` (the bytes as received stay in
 * request.body), or undefined once its 400/415 problem has been sent.
 */
export function jsonBodyOf(
  request: FastifyRequest,
  reply: FastifyReply,
  types: readonly string[],
): Exclude<ReturnType<typeof readJsonBody>, BodyError> | undefined {
  const json = readJsonBody(
    request.headers['content-type'],
    request.body as Buffer | undefined,
    types,
  );
  if (!isBodyError(json)) return json;
  sendBodyProblem(reply, request.method, json);
  return undefined;
}
