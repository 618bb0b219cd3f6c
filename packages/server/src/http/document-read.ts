// The decision for a document GET/HEAD, in one place: from the request's
// header fields and the stored validators to the status and header fields of
// the answer. Pure (no I/O), so the node:http fast lane and the Fastify route
// answer from the same function; each only does its own I/O around it (where
// the validators and the body come from, how the bytes are written).

import type { IncomingHttpHeaders } from 'node:http';
import {
  type ConditionalHeaders,
  codingETag,
  conditionalHeaders,
  type Evaluation,
  evaluatePreconditions,
  formatHttpDate,
  isNotModifiedHeader,
  type Validators,
} from '@ifmatch/core';
import type { StoredValidators } from '../store/types.js';
import { type Coding, codingFor, codingTags } from './compression.js';

/** What of a request the decision reads. */
export interface ReadRequest {
  method: 'GET' | 'HEAD';
  conditionals: ConditionalHeaders;
  acceptEncoding: string | string[] | undefined;
  range: string | undefined;
}

/**
 * The parts of a Node request the decision reads. The conditional fields come
 * from the raw field lines (repeated lines count; core's conditionalHeaders),
 * which costs no object per request field as headersDistinct does.
 */
export function readRequestOf(req: {
  method?: string | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: readonly string[];
}): ReadRequest {
  return {
    method: req.method === 'HEAD' ? 'HEAD' : 'GET',
    conditionals: conditionalHeaders(req.rawHeaders),
    acceptEncoding: req.headers['accept-encoding'],
    range: req.headers.range,
  };
}

/**
 * The validators of a stored state as a request for `coding` sees them: that
 * coding's tag, and the other codings' tags as alternates (If-Match passes on
 * any coding of the current state; If-None-Match compares the selected one).
 */
export function documentValidators(
  v: { etag: string; lastModified: number },
  coding: Coding,
  alternates = true,
): Validators & { etag: string } {
  if (!alternates)
    return { exists: true, etag: codingETag(v.etag, coding), lastModified: v.lastModified };
  const tags = codingTags(v.etag, coding);
  return {
    exists: true,
    etag: tags.etag,
    alternateETags: tags.alternateETags,
    lastModified: v.lastModified,
  };
}

export type ReadDecision =
  /** No such document: the route's 404 problem. */
  | { kind: 'absent' }
  /**
   * The store gave no size, and the coding (so the tag to compare) depends on
   * it: read the body, then decide again with its length.
   */
  | { kind: 'needs-size' }
  /** 412 problem carrying the current tag of the selected coding. */
  | { kind: 'failed'; evaluation: Extract<Evaluation, { status: 412 }>; etag: string }
  /**
   * 304. `fields` are the 200's: the caller adds its own (request id, CORS,
   * auth) and keeps what the 304 rule keeps (notModifiedFields).
   */
  | { kind: 'not-modified'; fields: string[] }
  /** The representation in `coding`, with these fields (no Content-Length yet). */
  | { kind: 'send'; coding: Coding; range: boolean; fields: string[] };

/**
 * The header fields of a document's 200, in the order they are sent, as a
 * flat [name, value, ...] list (what writeHead takes).
 */
function representationFields(etag: string, lastModified: number, coding: Coding): string[] {
  const fields = [
    'cache-control',
    'no-cache',
    'vary',
    'Accept-Encoding',
    'etag',
    etag,
    'last-modified',
    httpDate(lastModified),
    'accept-ranges',
    'bytes',
    'content-type',
    'application/json',
  ];
  if (coding !== 'identity') fields.push('content-encoding', coding);
  return fields;
}

/** The fields of a flat list that a 304 keeps (RFC 9110 15.4.5, core's rule). */
export function notModifiedFields(fields: readonly string[]): string[] {
  let hasETag = false;
  for (let i = 0; i < fields.length; i += 2)
    if (fields[i]!.toLowerCase() === 'etag') hasETag = true;
  const kept: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    if (isNotModifiedHeader(fields[i]!, hasETag)) kept.push(fields[i]!, fields[i + 1]!);
  }
  return kept;
}

/** RFC 9110 13.2.1 and 13.2.2 for a document read, against the representation it would send. */
export function decideRead(request: ReadRequest, v: StoredValidators | undefined): ReadDecision {
  if (v === undefined) return { kind: 'absent' };
  if (v.size === undefined && request.acceptEncoding !== undefined) return { kind: 'needs-size' };
  const coding = codingFor(request.acceptEncoding, v.size);
  // The other codings' tags only matter to If-Match: skip building them otherwise.
  const validators = documentValidators(v, coding, request.conditionals.ifMatch !== undefined);
  const evaluation = evaluatePreconditions(request.method, request.conditionals, validators);
  if (evaluation.status === 412) return { kind: 'failed', evaluation, etag: validators.etag };
  const fields = representationFields(validators.etag, v.lastModified, coding);
  if (evaluation.status === 304) return { kind: 'not-modified', fields };
  return { kind: 'send', coding, range: evaluation.range, fields };
}

/** One formatted Last-Modified kept: a hot document asks for the same one again and again. */
let lastDate = { ms: Number.NaN, text: '' };
function httpDate(ms: number): string {
  if (lastDate.ms !== ms) lastDate = { ms, text: formatHttpDate(ms) };
  return lastDate.text;
}
