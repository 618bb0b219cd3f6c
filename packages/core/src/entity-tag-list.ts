// The If-Match / If-None-Match field value: "*" / #entity-tag (RFC 9110 13.1.1, 13.1.2),
// with the list rules of 5.6.1 (OWS around commas, empty elements tolerated).
import { type EntityTag, scanEntityTag } from './entity-tag.js';

export type EntityTagList =
  | { type: 'any' }
  | { type: 'tags'; tags: EntityTag[] }
  /** Junk anywhere, "*" mixed with tags, or no element at all. Never half-parsed. */
  | { type: 'malformed' };

const MALFORMED: EntityTagList = Object.freeze({ type: 'malformed' }) as EntityTagList;

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Parses an If-Match / If-None-Match value. Several field lines (an array) are
 * one list, as if joined with commas (RFC 9110 5.3). undefined/null or an
 * empty array = the field is absent (returns undefined).
 *
 * A present but empty value ("", " , ") has no element, which the 1#
 * grammar forbids: it is malformed, so callers fail closed on writes.
 */
export function parseEntityTagList(
  value: string | readonly string[] | undefined | null,
): EntityTagList | undefined {
  if (value === undefined || value === null) return undefined;
  let text: string;
  if (typeof value === 'string') {
    text = value;
  } else if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    if (!value.every((line) => typeof line === 'string')) return MALFORMED;
    text = value.join(',');
  } else {
    return MALFORMED;
  }

  const tags: EntityTag[] = [];
  let stars = 0;
  let i = 0;
  const n = text.length;
  for (;;) {
    // Skip OWS and empty elements (",  ,").
    while (i < n && (isOws(text.charCodeAt(i)) || text.charCodeAt(i) === 0x2c)) i++;
    if (i >= n) break;
    if (text.charCodeAt(i) === 0x2a /* * */) {
      stars++;
      i++;
    } else {
      const scanned = scanEntityTag(text, i);
      if (scanned === undefined) return MALFORMED;
      tags.push(scanned.tag);
      i = scanned.end;
    }
    // After an element: OWS, then a comma or the end.
    while (i < n && isOws(text.charCodeAt(i))) i++;
    if (i < n && text.charCodeAt(i) !== 0x2c) return MALFORMED;
  }

  if (stars > 0) {
    // "*" is the whole field value, never a list member.
    return stars === 1 && tags.length === 0 ? { type: 'any' } : MALFORMED;
  }
  return tags.length > 0 ? { type: 'tags', tags } : MALFORMED;
}
