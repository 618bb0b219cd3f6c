// The server's URL grammar, in one place: what a request target may look like,
// its one canonical spelling, the collection/id segments and the route paths.
// Every layer (the front door in app.ts, the fast lane, the routes' schemas,
// authorization, the not-found handler) takes its answer from here.
//
// Canonical form (docs/RELIABILITY.md, "Access model"):
// - origin-form `/a/b?q`; an absolute-form target (RFC 9112 3.2.2, which a
//   server MUST accept) is reduced to its path and query, whatever its host;
// - a percent-escape of a character that needs none (`%61pi`) is decoded
//   (RFC 3986 6.2.2.2: the same URI), any other character is escaped with
//   upper-case hex, so two spellings of one resource become one string;
// - refused with 400: a fragment, an empty segment (`//`), a dot segment
//   (`.`/`..`, escaped or not), an escaped `/` (`%2F`) and a bad escape,
//   since each would give a resource two spellings or none.

/** Collection names and ids (CONTRACT: 1-128 of [A-Za-z0-9._~-], not . or ..). */
export const SEGMENT_PATTERN = '^(?!\\.\\.?$)[A-Za-z0-9._~-]{1,128}$';
const SEGMENT = new RegExp(SEGMENT_PATTERN);

export function isValidSegment(value: unknown): value is string {
  return typeof value === 'string' && SEGMENT.test(value);
}

export const SEGMENT_RULE =
  'Collection and id are 1-128 characters of [A-Za-z0-9._~-], not "." or ".."';

export const DOCUMENT_URL = '/api/:collection/:id';
export const COLLECTION_URL = '/api/:collection';

/** The path of a document, for Location and Content-Location. */
export function documentPath(collection: string, id: string): string {
  return `/api/${collection}/${id}`;
}

// A document path made only of characters that never need an escape: the fast
// lane's one pattern (anything else goes to the router, which decodes).
const DOCUMENT_PATH = /^\/api\/([A-Za-z0-9._~-]{1,128})\/([A-Za-z0-9._~-]{1,128})$/;

/** `{ collection, id }` of a canonical document path, or undefined. */
export function matchDocumentPath(path: string): { collection: string; id: string } | undefined {
  const m = DOCUMENT_PATH.exec(path);
  if (m === null) return undefined;
  const collection = m[1]!;
  const id = m[2]!;
  return isValidSegment(collection) && isValidSegment(id) ? { collection, id } : undefined;
}

/** The path of a request URL (everything before `?`). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export type Target = { url: string } | { error: string };

// pchar = unreserved / pct-encoded / sub-delims / ":" / "@" (RFC 3986 3.3):
// left as they are; everything else in a decoded segment is escaped.
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
// A target made of these (no '%', no '#', no '.' segment, no '//') is already canonical.
const PLAIN = /^\/(?:[A-Za-z0-9\-_~!$&'()*+,;=:@][A-Za-z0-9\-._~!$&'()*+,;=:@]*\/?)*(?:\?[^#]*)?$/;
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

function encodeSegment(decoded: string): string {
  let out = '';
  for (const ch of decoded) {
    if (PCHAR.test(ch)) out += ch;
    else {
      for (const byte of Buffer.from(ch, 'utf8')) {
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      }
    }
  }
  return out;
}

/**
 * The canonical origin-form of a request target, or why it has none. `*`
 * (asterisk-form, OPTIONS) is left to the router.
 */
export function canonicalTarget(raw: string): Target {
  if (raw === '*') return { url: raw };
  if (raw.includes('#')) return { error: 'A request target cannot carry a fragment (#)' };
  let target = raw;
  if (!target.startsWith('/')) {
    const m = ABSOLUTE.exec(target);
    const scheme = m?.[0].slice(0, m[0].indexOf(':')).toLowerCase();
    if (m === null || (scheme !== 'http' && scheme !== 'https')) {
      return { error: 'The request target is neither a path nor an http(s) URL' };
    }
    target = target.slice(m[0].length);
    if (!target.startsWith('/')) target = `/${target}`;
  }
  // (PLAIN excludes segments that start with '.', so no dot segment gets through it.)
  if (PLAIN.test(target)) return { url: target };
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  const segments = path.split('/').slice(1);
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    // '' is allowed last only (a trailing slash: `/` itself, or a URL no route matches).
    if (segment === '' && i < segments.length - 1) {
      return { error: 'A path cannot hold an empty segment (//)' };
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return { error: 'The path has a bad percent-encoding' };
    }
    if (decoded === '.' || decoded === '..') {
      return { error: 'A path cannot hold a dot segment (. or ..)' };
    }
    if (decoded.includes('/')) return { error: 'A path segment cannot hold an escaped slash' };
    out.push(encodeSegment(decoded));
  }
  return { url: `/${out.join('/')}${query}` };
}
