// Reads the conditional request fields from a web Headers object, a Node-style
// record (req.headersDistinct: one string per field line) or Node's
// req.rawHeaders (the field lines as received), keeping line counts where the
// source has them: a date sent on two lines must be seen as invalid.
//
// Node's req.headers joins repeated If-Match lines and keeps only the first
// If-Modified-Since, so it cannot be a source. rawHeaders is the cheapest one
// (no object is built for the other fields of the request, no array per
// field): every node:http adapter reads it.

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

/**
 * Node's `req.rawHeaders`: `[name, value, name, value, ...]`, one pair per
 * field line, names as the client spelled them.
 */
export type RawHeaders = readonly string[];

/**
 * Collects the conditional fields. Record keys and raw names are matched
 * case-insensitively. From raw headers, a field sent on one line is a string
 * and one sent on several lines an array of them.
 */
export function conditionalHeaders(
  source: Headers | HeaderRecord | RawHeaders,
): ConditionalHeaders {
  if (Array.isArray(source)) return fromRawHeaders(source as RawHeaders);
  const out: ConditionalHeaders = {};
  if (isHeaders(source)) {
    for (const [key, name] of FIELDS) {
      const value = source.get(name);
      if (value !== null) out[key] = value;
    }
    return out;
  }
  const record = source as HeaderRecord;
  const lower = new Map<string, unknown>();
  for (const key of Object.keys(record)) {
    const name = key.toLowerCase();
    const value = record[key];
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

/** One pass over the field lines, nothing built for the other fields. */
function fromRawHeaders(raw: RawHeaders): ConditionalHeaders {
  const out: ConditionalHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (typeof name !== 'string' || typeof value !== 'string') continue;
    const key = rawFieldKey(name);
    if (key === undefined) continue;
    const prev = out[key];
    out[key] =
      prev === undefined ? value : typeof prev === 'string' ? [prev, value] : [...prev, value];
  }
  return out;
}

/** The conditional field a raw name is, by length first: most names are none of them. */
function rawFieldKey(name: string): keyof ConditionalHeaders | undefined {
  switch (name.length) {
    case 5:
      return sameName(name, 'range') ? 'range' : undefined;
    case 8:
      if (sameName(name, 'if-match')) return 'ifMatch';
      return sameName(name, 'if-range') ? 'ifRange' : undefined;
    case 13:
      return sameName(name, 'if-none-match') ? 'ifNoneMatch' : undefined;
    case 17:
      return sameName(name, 'if-modified-since') ? 'ifModifiedSince' : undefined;
    case 19:
      return sameName(name, 'if-unmodified-since') ? 'ifUnmodifiedSince' : undefined;
    default:
      return undefined;
  }
}

/**
 * `name` equals `lower` (lower-case letters and '-', same length) ignoring
 * ASCII case, without building a lower-cased copy: bit 0x20 turns an
 * upper-case letter into its lower case ('-' must match as it is).
 */
function sameName(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = name.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && (l === 0x2d || (c | 0x20) !== l)) return false;
  }
  return true;
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
