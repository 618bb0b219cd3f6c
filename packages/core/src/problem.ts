// RFC 9457 problem details for the decisions of this package (412, 428).
import type { Evaluation } from './preconditions.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  [key: string]: unknown;
}

export const PRECONDITION_FAILED_TYPE = 'https://ifmatch.dev/problems/precondition-failed';
export const PRECONDITION_REQUIRED_TYPE = 'https://ifmatch.dev/problems/precondition-required';
export const NOT_FOUND_TYPE = 'https://ifmatch.dev/problems/not-found';
export const STORE_UNAVAILABLE_TYPE = 'https://ifmatch.dev/problems/store-unavailable';

type Failed = Extract<Evaluation, { status: 412 }> & {
  /** false: If-None-Match listed tags (not "*"); the default wording is the create-only one. */
  anyTag?: boolean;
};

function failedDetail(e: Failed): string {
  if (e.malformed) {
    return `${e.precondition} is malformed (expected "*" or a list of entity-tags such as "abc" or W/"abc"), so the request was not applied.`;
  }
  switch (e.precondition) {
    case 'If-Match':
      return 'If-Match does not match the current entity-tag: the resource changed (or does not exist). Fetch it again and retry.';
    case 'If-Unmodified-Since':
      return 'The resource was modified after the If-Unmodified-Since date. Fetch it again and retry.';
    case 'If-None-Match':
      return e.anyTag === false
        ? 'The resource is in a state If-None-Match lists, so the request was not applied.'
        : 'The resource already exists (If-None-Match: *), so it was not created.';
  }
}

/** A 412 problem naming the precondition that failed; `etag` is the current tag, when there is one. */
export function preconditionFailedProblem(e: Failed, currentETag?: string): Problem {
  const problem: Problem = {
    type: PRECONDITION_FAILED_TYPE,
    title: 'Precondition Failed',
    status: 412,
    detail: failedDetail(e),
    precondition: e.precondition,
  };
  if (e.malformed) problem['malformed'] = true;
  if (currentETag !== undefined) problem['etag'] = currentETag;
  return problem;
}

/** A 428 problem naming the header the client should send. */
export function preconditionRequiredProblem(method: string): Problem {
  const detail =
    method === 'PUT'
      ? 'PUT requires a precondition: send If-Match with the current ETag to replace, or If-None-Match: * to create.'
      : `${method} requires a precondition: send If-Match with the current ETag (read it from a GET).`;
  return {
    type: PRECONDITION_REQUIRED_TYPE,
    title: 'Precondition Required',
    status: 428,
    detail,
    requiredHeaders: method === 'PUT' ? ['If-Match', 'If-None-Match'] : ['If-Match'],
  };
}

/** A 404 for a write whose target was deleted before the write could commit. */
export function notFoundProblem(): Problem {
  return {
    type: NOT_FOUND_TYPE,
    title: 'Not Found',
    status: 404,
    detail: 'The resource does not exist (it was deleted before this request could be applied).',
  };
}

/**
 * A 503 for a write the store failed: `outcome` tells a client whether it may
 * simply retry (`not-applied`) or must re-read first (`unknown`).
 */
export function storeUnavailableProblem(outcome: 'not-applied' | 'unknown'): Problem {
  return {
    type: STORE_UNAVAILABLE_TYPE,
    title: 'Service Unavailable',
    status: 503,
    detail:
      outcome === 'unknown'
        ? 'The store became unreachable during the write: it may or may not have been applied. Read the resource again before retrying.'
        : 'The store is unavailable; the write was not applied. Retry after the Retry-After delay.',
    outcome,
  };
}
