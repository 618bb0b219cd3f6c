// The change feed's cursor on the wire: `<position>.<tag>`, where position is
// a place in one collection's change log (StoredChange.position) and tag a
// short hash of the storage's identity and the collection's name. The tag is
// what makes a cursor from another collection or another database a 400
// instead of a wrong feed (positions alone mean nothing elsewhere). `0` alone
// means "from the oldest change kept" and is valid for any collection.
// Positions are written in decimal; a cursor is opaque to clients all the same.

import { hashBytes } from '@ifmatch/core';

/** The tag of every cursor of `collection` in the storage named `identity` (DocumentStore.identity()). */
export function cursorTag(identity: string, collection: string): string {
  return hashBytes(`${identity}\0${collection}`);
}

export function formatCursor(position: number, tag: string): string {
  return `${position}.${tag}`;
}

export type ParsedCursor =
  | { ok: true; position: number }
  /** malformed: not a cursor at all; foreign: another collection's or database's. */
  | { ok: false; reason: 'malformed' | 'foreign' };

// Up to 15 digits: every such number is a safe integer (positions are counters).
const CURSOR = /^(0|[1-9][0-9]{0,14})\.([A-Za-z0-9_-]{1,64})$/;

/** Reads a cursor a client sent back (`since`, `Last-Event-ID`) for the collection whose tag is `tag`. */
export function parseCursor(text: string, tag: string): ParsedCursor {
  if (text === '0') return { ok: true, position: 0 };
  const m = CURSOR.exec(text);
  if (!m) return { ok: false, reason: 'malformed' };
  if (m[2] !== tag) return { ok: false, reason: 'foreign' };
  return { ok: true, position: Number(m[1]) };
}
