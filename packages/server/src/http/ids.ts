// Collection names and ids (CONTRACT: 1-128 of [A-Za-z0-9._~-], not . or ..).
// Checked after the router has percent-decoded the segment, so %2e%2e and
// %2F are caught here too.
const SEGMENT = /^[A-Za-z0-9._~-]{1,128}$/;

export function isValidSegment(value: unknown): value is string {
  return typeof value === 'string' && SEGMENT.test(value) && value !== '.' && value !== '..';
}

/** The path of a document, for Location and Content-Location. */
export function documentPath(collection: string, id: string): string {
  return `/api/${collection}/${id}`;
}
