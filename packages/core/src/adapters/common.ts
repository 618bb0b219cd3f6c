// What every adapter shares: the decision (skip / proceed / answer 304, 412, 428)
// and header plumbing. Framework-free on purpose so the adapters stay thin.
import {
  bytesETag,
  type ConditionalHeaders,
  type Evaluation,
  evaluatePreconditions,
  formatHttpDate,
  type InProcessLock,
  isNotModifiedHeader,
  notFoundProblem,
  notModifiedHeaders,
  type Problem,
  parseEntityTagList,
  parseHttpDate,
  preconditionFailedProblem,
  preconditionRequired,
  preconditionRequiredProblem,
  StoreUnavailableError,
  storeUnavailableProblem,
  unconditionalWrite,
  type Validators,
  type WriteCondition,
  WriteConflictError,
  writeCondition,
} from '../index.js';

export interface PreconditionOptions<R = unknown> {
  /** Answer 428 to a PUT/PATCH/DELETE that has neither If-Match nor If-None-Match (RFC 6585). */
  strict?: boolean;
  /**
   * For a store that cannot compare-and-set: hold `lock` for `key(request)`
   * around the check and the handler of every write. ONE PROCESS ONLY: another
   * process or instance is not excluded. A binding's conditional write needs no lock.
   */
  inProcessLock?: { lock: InProcessLock; key: (request: R) => string };
}

/**
 * The app's validators for the request's target, looked up without reading the
 * body (a version column, a file's mtime). `undefined` = this route has none: skip.
 */
export type ValidatorsFn<R> = (
  request: R,
) => Validators | undefined | Promise<Validators | undefined>;

/** What the handler sees after the adapter let the request through. */
export interface IfMatchState {
  validators: Validators;
  /** `undefined` when not evaluated: the target is absent and the method is not PUT (13.2.1). */
  evaluation: Evaluation | undefined;
  /**
   * What the store must still hold when it commits this write: pass it to the
   * binding's write (or map it onto your own single conditional statement) and
   * throw WriteConflictError when the store says it no longer held. On GET/HEAD: `none`.
   */
  condition: WriteCondition;
}

export type Decision =
  | { action: 'skip' }
  | { action: 'proceed'; state: IfMatchState; headers: Array<[string, string]> }
  | { action: 'not-modified'; headers: Array<[string, string]> }
  | {
      action: 'problem';
      status: 404 | 412 | 428 | 503;
      problem: Problem;
      headers: Array<[string, string]>;
    };

const SAFE = new Set(['GET', 'HEAD']);

/** ETag and Last-Modified of the current representation, as response header fields. */
export function validatorHeaders(v: Validators): Array<[string, string]> {
  if (!v.exists) return [];
  const out: Array<[string, string]> = [];
  if (v.etag !== undefined) out.push(['ETag', v.etag]);
  if (v.lastModified !== undefined) out.push(['Last-Modified', formatHttpDate(v.lastModified)]);
  return out;
}

/**
 * The validator fields of a 304: the ETag, and Last-Modified only when there is
 * no ETag (RFC 9110 15.4.5; the 304 rule would drop it anyway, so skip formatting it).
 */
function notModifiedValidatorHeaders(v: Validators): Array<[string, string]> {
  if (v.exists && v.etag !== undefined) return [['ETag', v.etag]];
  return validatorHeaders(v);
}

/**
 * Applies the 304 rule in place to a Node-style header store (ServerResponse,
 * Fastify's reply): sets the validator fields, then removes every field a 304
 * does not keep (RFC 9110 15.4.5). Set-Cookie arrays stay as they are.
 */
export function keepNotModifiedFields(
  store: {
    names(): string[];
    set(name: string, value: string): void;
    remove(name: string): void;
  },
  fields: ReadonlyArray<[string, string]>,
): void {
  for (const [name, value] of fields) store.set(name, value);
  const names = store.names();
  const hasETag = names.some((n) => n.toLowerCase() === 'etag');
  for (const name of names) if (!isNotModifiedHeader(name, hasETag)) store.remove(name);
}

/** RFC 9110 13.2.1 then 13.2.2, with the strict-mode 428 in between. */
export function decide(
  method: string,
  conditional: ConditionalHeaders,
  validators: Validators | undefined,
  options: { strict?: boolean | undefined } = {},
): Decision {
  if (validators === undefined) return { action: 'skip' };
  const m = method; // methods are case-sensitive (RFC 9110 9.1), as in core
  // 13.2.1: an absent target's unconditional answer is the handler's 404; only a
  // PUT (which would create) has its preconditions evaluated.
  if (!validators.exists && m !== 'PUT') {
    const state = {
      validators,
      evaluation: undefined,
      condition: writeCondition({}, validators, undefined),
    };
    return { action: 'proceed', state, headers: [] };
  }
  if (options.strict && preconditionRequired(m, conditional)) {
    return {
      action: 'problem',
      status: 428,
      problem: preconditionRequiredProblem(m),
      headers: [],
    };
  }
  const evaluation = evaluatePreconditions(m, conditional, validators);
  if (evaluation.status === 304) {
    return { action: 'not-modified', headers: notModifiedValidatorHeaders(validators) };
  }
  if (evaluation.status === 412) return failed(evaluation, conditional, validators);
  // A write's response carries the validators of the state it produced, which
  // only the handler knows; a read's are the current ones.
  const safe = SAFE.has(m);
  const condition = safe
    ? unconditionalWrite()
    : writeCondition(conditional, validators, evaluation);
  return {
    action: 'proceed',
    state: { validators, evaluation, condition },
    headers: safe ? validatorHeaders(validators) : [],
  };
}

function failed(
  evaluation: Evaluation & { status: 412 },
  conditional: ConditionalHeaders,
  validators: Validators,
): Decision {
  const etag = validators.exists ? validators.etag : undefined;
  const anyTag =
    evaluation.precondition === 'If-None-Match'
      ? parseEntityTagList(conditional.ifNoneMatch)?.type === 'any'
      : undefined;
  return {
    action: 'problem',
    status: 412,
    problem: preconditionFailedProblem({ ...evaluation, anyTag }, etag),
    headers: etag === undefined ? [] : [['ETag', etag]],
  };
}

/**
 * The answer to an error thrown by a write handler, or `undefined` when the
 * error is not ours (the framework handles it). A WriteConflictError is
 * answered as the pre-check would have been against the state the store holds
 * now (`revalidate` re-reads it): 412 with the current ETag, or 404 when the
 * target is gone (RFC 9110 13.2.1). A StoreUnavailableError is a 503 with Retry-After.
 */
export async function decideWriteFailure(
  method: string,
  conditional: ConditionalHeaders,
  error: unknown,
  revalidate: () => Validators | undefined | Promise<Validators | undefined>,
): Promise<Decision | undefined> {
  if (error instanceof StoreUnavailableError) return unavailable(error.outcome, error.retryAfter);
  if (!(error instanceof WriteConflictError)) return undefined;
  let current: Validators;
  try {
    current = (await revalidate()) ?? { exists: false };
  } catch {
    return unavailable('not-applied', 1); // the write did not happen; the re-read failed
  }
  if (!current.exists && method !== 'PUT') {
    return { action: 'problem', status: 404, problem: notFoundProblem(), headers: [] };
  }
  const again = evaluatePreconditions(method, conditional, current);
  if (again.status === 412) return failed(again, conditional, current);
  // The check passes again (the state went back, or the store changed between
  // the commit and this read): still a conflict, answered with the state now.
  const precondition =
    conditional.ifMatch !== undefined
      ? 'If-Match'
      : conditional.ifNoneMatch !== undefined
        ? 'If-None-Match'
        : 'If-Unmodified-Since';
  return failed({ status: 412, precondition, malformed: false }, conditional, current);
}

function unavailable(outcome: 'not-applied' | 'unknown', retryAfter: number): Decision {
  return {
    action: 'problem',
    status: 503,
    problem: storeUnavailableProblem(outcome),
    headers: [['Retry-After', String(retryAfter)]],
  };
}

/** Run `fn` under the in-process lock for writes when one is configured. */
export function underLock<R, T>(
  method: string,
  request: R,
  options: PreconditionOptions<R> | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = options?.inProcessLock;
  if (lock === undefined || SAFE.has(method)) return fn();
  return lock.lock.run(lock.key(request), fn);
}

/**
 * Body-hash mode: a strong ETag from the bytes about to be sent, then the same
 * evaluation. `undefined` = leave the response alone (not a GET/HEAD 200, it
 * already has an ETag, or no bytes to hash).
 */
export function decideByBody(
  method: string,
  status: number,
  conditional: ConditionalHeaders,
  existingETag: unknown,
  lastModifiedHeader: unknown,
  body: unknown,
): { etag: string; decision: Decision } | undefined {
  const m = method;
  if (!SAFE.has(m) || status !== 200) return undefined;
  if (existingETag !== undefined && existingETag !== null && existingETag !== '') return undefined;
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) return undefined;
  const etag = bytesETag(body);
  const lastModified =
    typeof lastModifiedHeader === 'string' ? parseHttpDate(lastModifiedHeader) : undefined;
  const validators: Validators =
    lastModified === undefined ? { exists: true, etag } : { exists: true, etag, lastModified };
  const decision = decide(m, conditional, validators);
  return { etag, decision };
}

export const PROBLEM_TYPE = 'application/problem+json';

export function problemBody(problem: Problem): string {
  return JSON.stringify(problem);
}

/** The 304's header fields: what the 200 would have had, filtered by RFC 9110 15.4.5. */
export function notModifiedFrom(
  current: Headers,
  validatorFields: ReadonlyArray<[string, string]>,
): Headers {
  const all = new Headers(current);
  for (const [name, value] of validatorFields) all.set(name, value);
  return notModifiedHeaders(all);
}
