// One entity-tag (RFC 9110 8.8.3): parse, format, compare (8.8.3.2).

/** An entity-tag; `opaque` is the characters between the quotes. */
export interface EntityTag {
  weak: boolean;
  opaque: string;
}

/**
 * etagc = %x21 / %x23-7E / obs-text. Header values decoded as latin1 (Node)
 * carry obs-text as code units 0x80-0xFF; anything above is not a field byte.
 */
export function isEtagc(code: number): boolean {
  return code === 0x21 || (code >= 0x23 && code <= 0x7e) || (code >= 0x80 && code <= 0xff);
}

/** True when every character of `text` is an etagc (the empty string is valid opaque). */
export function isOpaque(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (!isEtagc(text.charCodeAt(i))) return false;
  }
  return true;
}

/**
 * Scans one entity-tag starting at `start`. Returns the tag and the index just
 * after it, or undefined when the text there is not an entity-tag. Shared with
 * the list parser so both accept exactly the same grammar.
 */
export function scanEntityTag(
  text: string,
  start: number,
): { tag: EntityTag; end: number } | undefined {
  let i = start;
  let weak = false;
  // "W/" is case-sensitive: "w/" is not a weak prefix (RFC 9110 8.8.3).
  if (text.charCodeAt(i) === 0x57 /* W */ && text.charCodeAt(i + 1) === 0x2f /* / */) {
    weak = true;
    i += 2;
  }
  if (text.charCodeAt(i) !== 0x22) return undefined;
  const open = ++i;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      return { tag: { weak, opaque: text.slice(open, i) }, end: i + 1 };
    }
    if (!isEtagc(c)) return undefined;
    i++;
  }
  return undefined; // no closing quote
}

/** Parses exactly one entity-tag; any surrounding character (even a space) = undefined. */
export function parseEntityTag(text: string): EntityTag | undefined {
  if (typeof text !== 'string') return undefined;
  const scanned = scanEntityTag(text, 0);
  if (scanned === undefined || scanned.end !== text.length) return undefined;
  return scanned.tag;
}

/** Formats a tag as `W/"…"` or `"…"`; throws TypeError when `opaque` has a non-etagc character. */
export function formatEntityTag(tag: EntityTag): string {
  if (!isOpaque(tag.opaque)) {
    throw new TypeError(`entity-tag opaque part has a character outside etagc: ${tag.opaque}`);
  }
  return (tag.weak ? 'W/"' : '"') + tag.opaque + '"';
}

/** Strong comparison (8.8.3.2): both strong and the same opaque characters. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison (8.8.3.2): the same opaque characters, weakness ignored. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}
