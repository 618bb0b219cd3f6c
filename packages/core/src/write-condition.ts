// The write contract: what a write that passed its preconditions still needs to
// be true when the store commits it. Checking If-Match and then writing is a
// race (every request that read the old version before the first commit passes
// the check); the store must compare and write in one atomic operation. The
// adapters hand the handler a WriteCondition, a binding turns it into one
// statement (UPDATE ... WHERE version = $v, INSERT ... ON CONFLICT DO NOTHING,
// a Lua script), and a condition that no longer held comes back as a
// WriteConflictError, which the adapter answers exactly as a failed pre-check.
import type { ConditionalHeaders } from './conditional-headers.js';
import { parseEntityTagList } from './entity-tag-list.js';
import { parseHttpDate } from './http-date.js';
import type { Evaluation, Validators } from './preconditions.js';

declare const issued: unique symbol;

/**
 * What the store must still hold at commit time:
 * - `match`: the state the request was evaluated against (its ETag); If-Match
 *   with tags, or If-None-Match with tags / If-Unmodified-Since on an existing target;
 * - `exists`: any current state (If-Match: *);
 * - `absent`: no current state (If-None-Match: *, or the target was absent);
 * - `none`: the request carried no precondition: an unconditional write, which
 *   loses concurrent edits (only reachable without `strict`).
 *
 * Branded: only the adapters (through `writeCondition`) and `unconditionalWrite()`
 * make one, so a handler cannot pass a hand-made `{ kind: 'none' }` by accident.
 */
export type WriteCondition = (
  | { readonly kind: 'match'; readonly etag: string }
  | { readonly kind: 'exists' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'none' }
) & { readonly [issued]: true };

const issue = <C>(c: C) => Object.freeze(c) as unknown as WriteCondition;
const EXISTS = issue({ kind: 'exists' });
const ABSENT = issue({ kind: 'absent' });
const NONE = issue({ kind: 'none' });

/**
 * A write without any precondition, for scripts and migrations: it overwrites
 * whatever is there and can lose a concurrent edit. Never use it for a request.
 */
export function unconditionalWrite(): WriteCondition {
  return NONE;
}

/** The state the request was evaluated against, as a condition. */
function evaluatedState(current: Validators): WriteCondition {
  if (!current.exists) return ABSENT;
  if (current.etag === undefined) {
    // Without a tag there is nothing the store can compare at commit time.
    throw new TypeError(
      'a conditional write needs validators with an etag (validators() returned none)',
    );
  }
  return issue({ kind: 'match', etag: current.etag });
}

/**
 * The condition for a request whose evaluation let it through. `evaluation`
 * undefined = not evaluated (an absent target, RFC 9110 13.2.1): `absent`.
 */
export function writeCondition(
  headers: ConditionalHeaders,
  current: Validators,
  evaluation: Evaluation | undefined,
): WriteCondition {
  if (evaluation === undefined) return ABSENT;
  const ifMatch = parseEntityTagList(headers.ifMatch);
  if (ifMatch !== undefined) return ifMatch.type === 'any' ? EXISTS : evaluatedState(current);
  const ifNoneMatch = parseEntityTagList(headers.ifNoneMatch);
  if (ifNoneMatch !== undefined) {
    // "*" passed: nothing is there. A tag list passed: hold the evaluated state
    // (stricter than "still none of these tags", and one comparison).
    return ifNoneMatch.type === 'any' ? ABSENT : evaluatedState(current);
  }
  const unmodifiedSince = parseHttpDate(headers.ifUnmodifiedSince);
  if (unmodifiedSince !== undefined && current.exists && current.lastModified !== undefined) {
    return evaluatedState(current);
  }
  return NONE;
}

/** The condition as the precondition header a client would send for it (for messages). */
export function describeCondition(condition: WriteCondition): string {
  switch (condition.kind) {
    case 'match':
      return `If-Match: ${condition.etag}`;
    case 'exists':
      return 'If-Match: *';
    case 'absent':
      return 'If-None-Match: *';
    case 'none':
      return 'no precondition';
  }
}

/**
 * The store reports that the write condition no longer held at commit time (0
 * rows updated, a conflicting insert, a failed CAS): nothing was written. Throw
 * it from a handler (the bindings do); the adapter answers 412 with the current
 * ETag, or 404 when the target is gone, exactly as a failed pre-check would.
 */
export class WriteConflictError extends Error {
  override name = 'WriteConflictError';
  readonly condition: WriteCondition;
  constructor(condition: WriteCondition) {
    super(
      `the store no longer holds the state the write was based on (${describeCondition(condition)})`,
    );
    this.condition = condition;
  }
}

/**
 * The store failed during a write. `outcome` says whether the client can know:
 * `not-applied` (the store refused or was never reached: safe to retry) or
 * `unknown` (the connection was lost after the statement was sent: re-read
 * before retrying). The adapters answer 503 with Retry-After.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  readonly outcome: 'not-applied' | 'unknown';
  /** Seconds for Retry-After. */
  readonly retryAfter: number;
  constructor(
    outcome: 'not-applied' | 'unknown',
    options: { cause?: unknown; retryAfter?: number } = {},
  ) {
    super(
      outcome === 'unknown'
        ? 'the store became unreachable during the write: it may or may not have been applied'
        : 'the store is unavailable: the write was not applied',
      { cause: options.cause },
    );
    this.outcome = outcome;
    this.retryAfter = options.retryAfter ?? 1;
  }
}
