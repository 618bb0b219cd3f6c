// Typed errors carrying the RFC 9457 problem+json fields of the response, so a
// caller can branch on the class (or `status`) and still read the server's words.

import { type JsonPath, jsonPointer } from './json.js';
import type { Merge3Result } from './merge.js';

export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  [member: string]: unknown;
}

export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly url: string;
  readonly method: string;
  /** The parsed problem+json body, or `{}` when the body was not JSON. */
  readonly problem: ProblemDetails;
  readonly headers: Headers;
  /** Size of the error's body in bytes. */
  bodyBytes = 0;

  constructor(
    method: string,
    url: string,
    status: number,
    problem: ProblemDetails,
    headers: Headers,
  ) {
    const what = problem.detail ?? problem.title ?? `HTTP ${status}`;
    super(`${method} ${url}: ${status} ${what}`);
    this.method = method;
    this.url = url;
    this.status = status;
    this.problem = problem;
    this.headers = headers;
  }

  get type(): string | undefined {
    return this.problem.type;
  }
  get title(): string | undefined {
    return this.problem.title;
  }
  get detail(): string | undefined {
    return this.problem.detail;
  }
}

/** 412: the precondition (If-Match, If-None-Match: *, ...) was false. */
export class PreconditionFailedError extends HttpError {
  override name = 'PreconditionFailedError';
  /** The ETag of the current state (absent when the document does not exist). */
  readonly currentETag: string | undefined;
  /** True when the server sent the current document (`Prefer: return=representation`). */
  readonly hasCurrent: boolean;
  /** The current document when `hasCurrent` (it may legitimately be `null`). */
  readonly current: unknown;

  constructor(method: string, url: string, problem: ProblemDetails, headers: Headers) {
    super(method, url, 412, problem, headers);
    this.currentETag = headers.get('etag') ?? undefined;
    this.hasCurrent = Object.hasOwn(problem, 'current');
    this.current = this.hasCurrent ? problem.current : undefined;
  }
}

/** 428: the server runs in strict mode and wants If-Match or If-None-Match. */
export class PreconditionRequiredError extends HttpError {
  override name = 'PreconditionRequiredError';
}

export class NotFoundError extends HttpError {
  override name = 'NotFoundError';
}

/** update() gave up: every attempt met a conflict (or an unknown outcome). */
export class MaxAttemptsError extends Error {
  override name = 'MaxAttemptsError';
  readonly attempts: number;
  readonly conflicts: number;
  constructor(url: string, attempts: number, conflicts: number, options?: { cause?: unknown }) {
    super(`update ${url}: gave up after ${attempts} attempts (${conflicts} conflicts)`, options);
    this.attempts = attempts;
    this.conflicts = conflicts;
  }
}

/**
 * 410 from a change feed: the cursor is older than the changes the server
 * keeps. Nothing after it can be replayed: list the collection again and
 * follow the feed from the listing's cursor.
 */
export class CursorExpiredError extends HttpError {
  override name = 'CursorExpiredError';
  /** The cursor the server no longer serves. */
  readonly cursor: string;

  constructor(url: string, cursor: string, problem: ProblemDetails, headers: Headers) {
    super('GET', url, 410, problem, headers);
    this.cursor = cursor;
  }
}

/** threeWayMerge: both sides changed the same paths differently; a person must choose. */
export class MergeConflictError extends Error {
  override name = 'MergeConflictError';
  /** Paths both sides changed to different values. */
  readonly conflicts: JsonPath[];
  /** Paths each side changed relative to the base. */
  readonly mine: JsonPath[];
  readonly theirs: JsonPath[];
  /** The merge as far as it goes: mine's value at each conflict. */
  readonly merged: unknown;
  /** The three documents merged. */
  readonly versions: { base: unknown; mine: unknown; theirs: unknown };

  constructor(result: Merge3Result, versions: { base: unknown; mine: unknown; theirs: unknown }) {
    super(
      `merge: both sides changed ${result.conflicts.map((p) => (p.length === 0 ? 'the whole document' : jsonPointer(p))).join(', ')}`,
    );
    this.conflicts = result.conflicts;
    this.mine = result.mine;
    this.theirs = result.theirs;
    this.merged = result.merged;
    this.versions = versions;
  }
}

export function httpError(
  method: string,
  url: string,
  status: number,
  problem: ProblemDetails,
  headers: Headers,
): HttpError {
  switch (status) {
    case 404:
      return new NotFoundError(method, url, status, problem, headers);
    case 412:
      return new PreconditionFailedError(method, url, problem, headers);
    case 428:
      return new PreconditionRequiredError(method, url, status, problem, headers);
    default:
      return new HttpError(method, url, status, problem, headers);
  }
}
