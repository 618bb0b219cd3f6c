// Request bodies: the server receives every body as raw bytes and checks them
// itself, so PUT/POST can store exactly the bytes the client sent.

export const JSON_TYPE = 'application/json';
export const MERGE_PATCH_TYPE = 'application/merge-patch+json';
export const JSON_PATCH_TYPE = 'application/json-patch+json';
export const PATCH_TYPES = [MERGE_PATCH_TYPE, JSON_PATCH_TYPE] as const;
/** Accept-Patch (RFC 5789 3.1): what a PATCH may send. */
export const ACCEPT_PATCH = PATCH_TYPES.join(', ');

/** Deepest nesting accepted; checked by a scan before JSON.parse can recurse. */
export const MAX_DEPTH = 100;

export type BodyError = { status: 400 | 415; slug: string; detail: string };

/**
 * The media type of a Content-Type value, lower-cased, or undefined when the
 * field is absent or unparsable. A charset parameter other than UTF-8 makes the
 * type unsupported (we only store UTF-8 JSON).
 */
export function mediaType(
  value: string | undefined,
): { type: string; charsetOk: boolean } | undefined {
  if (value === undefined) return undefined;
  const [head, ...params] = value.split(';');
  const type = head!.trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) return undefined;
  let charsetOk = true;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    if (param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    charsetOk = charset === 'utf-8' || charset === 'utf8';
  }
  return { type, charsetOk };
}

/** 415 unless the Content-Type is one of `allowed` (with a UTF-8 or no charset). */
function checkContentType(
  value: string | undefined,
  allowed: readonly string[],
): BodyError | { type: string } {
  const parsed = mediaType(value);
  if (!parsed || !allowed.includes(parsed.type) || !parsed.charsetOk) {
    return {
      status: 415,
      slug: 'unsupported-media-type',
      detail: `Content-Type must be ${allowed.join(' or ')}${value ? `, not ${value}` : ''}`,
    };
  }
  return { type: parsed.type };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Scans JSON text for nesting deeper than `max` without recursion, skipping
 * brackets inside strings. Runs before JSON.parse so a 10,000-deep body is a
 * 400, not a stack overflow anywhere downstream.
 */
export function nestingDepthExceeds(text: string, max: number = MAX_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Decodes and parses a JSON body: UTF-8 (strict), depth-limited, valid JSON. */
function parseJsonBody(body: Buffer | undefined): { value: unknown } | BodyError {
  if (!body || body.length === 0) {
    return {
      status: 400,
      slug: 'invalid-json',
      detail: 'The request body is empty; a JSON value is required',
    };
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { status: 400, slug: 'invalid-utf8', detail: 'The request body is not valid UTF-8' };
  }
  if (text.charCodeAt(0) === 0xfeff) {
    return {
      status: 400,
      slug: 'invalid-json',
      detail: 'JSON text must not start with a byte order mark',
    };
  }
  if (nestingDepthExceeds(text)) {
    return {
      status: 400,
      slug: 'json-too-deep',
      detail: `JSON nesting deeper than ${MAX_DEPTH} levels is not accepted`,
    };
  }
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return {
      status: 400,
      slug: 'invalid-json',
      detail: `The request body is not valid JSON: ${(error as Error).message}`,
    };
  }
}

/**
 * A JSON request body checked in order: the media type among `allowed` (415),
 * then strict UTF-8, depth and JSON validity (400).
 */
export function readJsonBody(
  contentType: string | undefined,
  body: Buffer | undefined,
  allowed: readonly string[],
): BodyError | { type: string; value: unknown } {
  const type = checkContentType(contentType, allowed);
  if (isBodyError(type)) return type;
  const parsed = parseJsonBody(body);
  if (isBodyError(parsed)) return parsed;
  return { type: type.type, value: parsed.value };
}

export function isBodyError(x: unknown): x is BodyError {
  return typeof x === 'object' && x !== null && 'slug' in x && 'status' in x;
}
