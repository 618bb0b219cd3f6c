// The cursor wire format (src/live/cursor.ts): round trips, junk, and tags
// that tell collections and databases apart.
import { describe, expect, it } from 'vitest';
import { cursorTag, formatCursor, parseCursor } from '../../src/live/cursor.js';

const TAG = cursorTag('db-1', 'notes');

describe('cursor', () => {
  it.each([0, 1, 42, 2 ** 40, 999_999_999_999_999])('round-trips position %d', (p) => {
    expect(parseCursor(formatCursor(p, TAG), TAG)).toEqual({ ok: true, position: p });
  });

  it('a bare 0 means the oldest change kept, in any collection', () => {
    expect(parseCursor('0', TAG)).toEqual({ ok: true, position: 0 });
    expect(parseCursor('0', cursorTag('other-db', 'x'))).toEqual({ ok: true, position: 0 });
  });

  it('tags differ by collection and by storage identity, and are stable', () => {
    expect(cursorTag('db-1', 'notes')).toBe(TAG);
    expect(cursorTag('db-1', 'other')).not.toBe(TAG);
    expect(cursorTag('db-2', 'notes')).not.toBe(TAG);
    // The separator keeps ("a", "b\0c")-style collisions apart: names cannot hold NUL.
    expect(cursorTag('db-1n', 'otes')).not.toBe(TAG);
    expect(TAG).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it.each([
    '',
    'junk',
    '1',
    '-1.x',
    '01.x',
    '1.',
    '.abc',
    '1.a.b',
    '1 .abc',
    ' 1.abc',
    '1.ab c',
    '1e3.abc',
    '0x10.abc',
    '1234567890123456.abc',
    `1.${'a'.repeat(65)}`,
  ])('%j is malformed', (text) => {
    expect(parseCursor(text, TAG)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('a well-formed cursor of another collection or database is foreign', () => {
    expect(parseCursor(formatCursor(5, cursorTag('db-1', 'other')), TAG)).toEqual({
      ok: false,
      reason: 'foreign',
    });
    expect(parseCursor(formatCursor(5, cursorTag('db-2', 'notes')), TAG)).toEqual({
      ok: false,
      reason: 'foreign',
    });
  });
});
