// RFC 9110 13.2.2: evaluation of preconditions, one function per header field,
// called in the order of the RFC. 13.2.1 (answer 404 and friends first) is the
// caller's job.

import type { ConditionalHeaders } from './conditional-headers.js';
import { type EntityTag, parseEntityTag, strongMatch, weakMatch } from './entity-tag.js';
import { type EntityTagList, parseEntityTagList } from './entity-tag-list.js';
import { parseHttpDate, toWholeSeconds } from './http-date.js';

export interface Validators {
  /** Is there a current representation? */
  exists: boolean;
  /** Formatted tag of the selected representation, e.g. "\"7-ab12\"". */
  etag?: string;
  /** Formatted tags of other content codings of the same state: If-Match passes on any. */
  alternateETags?: readonly string[];
  /** Last modification, epoch ms or Date; compared in whole seconds. */
  lastModified?: number | Date;
}

export type Evaluation =
  | { status: 'proceed'; range: boolean }
  | { status: 304; precondition: 'If-None-Match' | 'If-Modified-Since' }
  | {
      status: 412;
      precondition: 'If-Match' | 'If-Unmodified-Since' | 'If-None-Match';
      malformed: boolean;
    };

/** Per the RFC a condition is true, false, or (field absent/ignored) not evaluated. */
type Condition = boolean | undefined;

function isGetOrHead(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

function present(value: string | readonly string[] | undefined): boolean {
  if (value === undefined) return false;
  return typeof value === 'string' || value.length > 0;
}

function lastModifiedMs(current: Validators): number | undefined {
  const lm = current.lastModified;
  if (lm === undefined) return undefined;
  const ms = typeof lm === 'number' ? lm : lm.getTime();
  return Number.isFinite(ms) ? toWholeSeconds(ms) : undefined;
}

function currentTags(current: Validators, withAlternates: boolean): EntityTag[] {
  const tags: EntityTag[] = [];
  const main = current.etag === undefined ? undefined : parseEntityTag(current.etag);
  if (main) tags.push(main);
  if (withAlternates && current.alternateETags) {
    for (const text of current.alternateETags) {
      const tag = parseEntityTag(text);
      if (tag) tags.push(tag);
    }
  }
  return tags;
}

/**
 * 13.1.1 If-Match: "*" is true iff a current representation exists; a list is
 * true iff one member strongly matches the current tag or an alternate
 * coding's tag. A malformed list counts as false: a write never slips through.
 */
export function checkIfMatch(list: EntityTagList, current: Validators): boolean {
  if (list.type === 'malformed') return false;
  if (!current.exists) return false;
  if (list.type === 'any') return true;
  const mine = currentTags(current, true);
  return list.tags.some((tag) => mine.some((c) => strongMatch(tag, c)));
}

/**
 * 13.1.4 If-Unmodified-Since: true iff the last modification is at or before
 * the date. Without a modification date (including no representation at all)
 * the field must be ignored: undefined.
 */
export function checkIfUnmodifiedSince(date: number, current: Validators): Condition {
  const lm = current.exists ? lastModifiedMs(current) : undefined;
  if (lm === undefined) return undefined;
  return lm <= date;
}

/**
 * 13.1.2 If-None-Match: "*" is true iff a current representation exists; a list
 * is true iff no member weakly matches the selected representation's tag (only
 * that one: a 304 must validate what the client would receive).
 *
 * A malformed list is not evaluated (undefined), like an invalid date: false
 * would mean "a tag matched", i.e. a 304 for junk. What to do instead depends
 * on the method, so the caller decides (evaluatePreconditions: ignored on
 * GET/HEAD, 412 on writes). Test the result with `=== false`.
 */
export function checkIfNoneMatch(list: EntityTagList, current: Validators): Condition {
  if (list.type === 'malformed') return undefined;
  if (!current.exists) return true;
  if (list.type === 'any') return false;
  const mine = currentTags(current, false);
  return !list.tags.some((tag) => mine.some((c) => weakMatch(tag, c)));
}

/**
 * 13.1.3 If-Modified-Since: true iff modified after the date. Without a
 * modification date it cannot be evaluated: undefined.
 */
export function checkIfModifiedSince(date: number, current: Validators): Condition {
  const lm = current.exists ? lastModifiedMs(current) : undefined;
  if (lm === undefined) return undefined;
  return lm > date;
}

/**
 * 13.1.5 If-Range: an entity-tag matches only by strong comparison with the
 * current tag (a weak tag never matches); a date only when it equals
 * Last-Modified in whole seconds. Absent representation or malformed = false.
 */
export function evaluateIfRange(
  ifRange: string | readonly string[] | undefined,
  current: Validators,
): boolean {
  if (!current.exists || ifRange === undefined) return false;
  let text: string;
  if (typeof ifRange === 'string') text = ifRange;
  else if (ifRange.length === 1 && typeof ifRange[0] === 'string') text = ifRange[0];
  else return false;
  text = text.replace(/^[ \t]+|[ \t]+$/g, '');
  if (text.startsWith('"') || text.startsWith('W/')) {
    const tag = parseEntityTag(text);
    if (tag === undefined || tag.weak) return false;
    return currentTags(current, false).some((c) => strongMatch(tag, c));
  }
  const date = parseHttpDate(text);
  const lm = lastModifiedMs(current);
  return date !== undefined && lm !== undefined && date === lm;
}

/**
 * Evaluates the preconditions of a request in the order of RFC 9110 13.2.2.
 * Methods are case-sensitive (RFC 9110 9.1): only "GET" and "HEAD" are safe
 * reads here; anything else is treated as a write, the fail-closed side.
 */
export function evaluatePreconditions(
  method: string,
  headers: ConditionalHeaders,
  current: Validators,
): Evaluation {
  const read = isGetOrHead(method);

  // Step 1: If-Match.
  const ifMatch = parseEntityTagList(headers.ifMatch);
  if (ifMatch !== undefined) {
    if (!checkIfMatch(ifMatch, current)) {
      return { status: 412, precondition: 'If-Match', malformed: ifMatch.type === 'malformed' };
    }
  } else {
    // Step 2: If-Unmodified-Since, only without If-Match; an invalid date is ignored.
    const date = parseHttpDate(headers.ifUnmodifiedSince);
    if (date !== undefined && checkIfUnmodifiedSince(date, current) === false) {
      return { status: 412, precondition: 'If-Unmodified-Since', malformed: false };
    }
  }

  // Step 3: If-None-Match.
  const ifNoneMatch = parseEntityTagList(headers.ifNoneMatch);
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.type === 'malformed') {
      // A read may ignore it (a 200 is always safe); a write fails closed, so a
      // broken create-only PUT never overwrites.
      if (!read) return { status: 412, precondition: 'If-None-Match', malformed: true };
    } else if (checkIfNoneMatch(ifNoneMatch, current) === false) {
      return read
        ? { status: 304, precondition: 'If-None-Match' }
        : { status: 412, precondition: 'If-None-Match', malformed: false };
    }
  } else if (read) {
    // Step 4: If-Modified-Since, only for GET/HEAD without If-None-Match (even a
    // malformed one: the RFC says "contains", so it still disables this step).
    const date = parseHttpDate(headers.ifModifiedSince);
    if (date !== undefined && checkIfModifiedSince(date, current) === false) {
      return { status: 304, precondition: 'If-Modified-Since' };
    }
  }

  // Step 5: Range with If-Range (GET only).
  const range =
    method === 'GET' &&
    present(headers.range) &&
    (!present(headers.ifRange) || evaluateIfRange(headers.ifRange, current));
  return { status: 'proceed', range };
}
