// RFC 6585 428 Precondition Required: a server option that refuses writes that
// do not say which state they expect, so no update is lost to a blind write.
import { type ConditionalHeaders, hasPrecondition } from './conditional-headers.js';

const WRITES = new Set(['PUT', 'PATCH', 'DELETE']);

/** PUT, PATCH and DELETE must carry a precondition in strict mode (methods are case-sensitive). */
export function requiresPrecondition(method: string): boolean {
  return WRITES.has(method);
}

/** True = answer 428: the method requires a precondition and neither If-Match nor If-None-Match is present. */
export function preconditionRequired(method: string, headers: ConditionalHeaders): boolean {
  return requiresPrecondition(method) && !hasPrecondition(headers);
}
