// Which header fields a 304 keeps (RFC 9110 15.4.5): the ones a 200 would have
// sent among Content-Location, Date, ETag, Vary, Cache-Control and Expires, plus
// everything that is not representation metadata (CORS, cookies, request ids).
// Fields that describe a body the 304 does not have are dropped, and so is
// Last-Modified when an ETag is there to validate with.

const DROPPED = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-range',
  'content-md5',
  'content-digest',
  'repr-digest',
  'digest',
  'content-disposition',
  'transfer-encoding',
  'accept-ranges',
]);

/** True when a 304 should carry the field `name` (case-insensitive). */
export function isNotModifiedHeader(name: string, hasETag: boolean): boolean {
  const lower = name.toLowerCase();
  if (DROPPED.has(lower)) return false;
  // Last-Modified only guides cache updates when there is no ETag (15.4.5).
  if (lower === 'last-modified') return !hasETag;
  return true;
}

/** The 200's headers -> the 304's. The input is not modified. */
export function notModifiedHeaders(headers: Headers): Headers {
  const out = new Headers();
  const hasETag = headers.has('etag');
  headers.forEach((value, name) => {
    // Set-Cookie lines must stay separate: copied below via getSetCookie.
    if (name === 'set-cookie') return;
    if (isNotModifiedHeader(name, hasETag)) out.append(name, value);
  });
  const cookies =
    typeof headers.getSetCookie === 'function'
      ? headers.getSetCookie()
      : headers.get('set-cookie') === null
        ? []
        : [headers.get('set-cookie')!];
  for (const cookie of cookies) out.append('set-cookie', cookie);
  return out;
}
