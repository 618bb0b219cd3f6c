// Reads the conditional request fields from a web Headers object or a Node-style
// record (req.headersDistinct: one string per field line), keeping line counts
// where the source has them: a date sent on two lines must be seen as invalid.

import { parseEntityTagList } from './entity-tag-list.js';

type FieldValue = string | readonly string[];

/** Raw field values; an array holds one entry per field line. Absent = undefined. */
export interface ConditionalHeaders {
  ifMatch?: FieldValue;
  ifNoneMatch?: FieldValue;
  ifModifiedSince?: FieldValue;
  ifUnmodifiedSince?: FieldValue;
  ifRange?: FieldValue;
  range?: FieldValue;
}

const FIELDS: ReadonlyArray<[keyof ConditionalHeaders, string]> = [
  ['ifMatch', 'if-match'],
  ['ifNoneMatch', 'if-none-match'],
  ['ifModifiedSince', 'if-modified-since'],
  ['ifUnmodifiedSince', 'if-unmodified-since'],
  ['ifRange', 'if-range'],
  ['range', 'range'],
];

type HeaderRecord = Record<string, string | readonly string[] | undefined>;

function isHeaders(source: unknown): source is Headers {
  return (
    typeof source === 'object' &&
    source !== null &&
    typeof (source as Headers).get === 'function' &&
    typeof (source as Headers).has === 'function'
  );
}

function normalize(value: unknown): FieldValue | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const lines = value.filter((line): line is string => typeof line === 'string');
    return lines.length > 0 ? lines : undefined;
  }
  return undefined;
}

/** Collects the conditional fields. Record keys are matched case-insensitively. */
export function conditionalHeaders(source: Headers | HeaderRecord): ConditionalHeaders {
  const out: ConditionalHeaders = {};
  if (isHeaders(source)) {
    for (const [key, name] of FIELDS) {
      const value = source.get(name);
      if (value !== null) out[key] = value;
    }
    return out;
  }
  const lower = new Map<string, unknown>();
  for (const key of Object.keys(source)) {
    const name = key.toLowerCase();
    const value = source[key];
    if (value === undefined) continue;
    const prev = lower.get(name);
    // The same field under two spellings: keep every line.
    if (prev !== undefined) {
      const a = Array.isArray(prev) ? prev : [prev];
      const b = Array.isArray(value) ? value : [value];
      lower.set(name, [...a, ...b]);
    } else {
      lower.set(name, value);
    }
  }
  for (const [key, name] of FIELDS) {
    const value = normalize(lower.get(name));
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * If-Match or If-None-Match present: the request states what it expects (RFC
 * 6585 428 rule). "Present" is what evaluatePreconditions sees, so the list
 * parser decides it: a hand-built `ifMatch: []` is absent here as there, and a
 * write cannot pass strict mode with a field that is then never evaluated.
 */
export function hasPrecondition(headers: ConditionalHeaders): boolean {
  return (
    parseEntityTagList(headers.ifMatch) !== undefined ||
    parseEntityTagList(headers.ifNoneMatch) !== undefined
  );
}
