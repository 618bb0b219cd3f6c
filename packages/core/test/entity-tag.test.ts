import {
  type EntityTag,
  formatEntityTag,
  parseEntityTag,
  strongMatch,
  weakMatch,
} from '@ifmatch/core';
import { describe, expect, it } from 'vitest';

describe('parseEntityTag', () => {
  const valid: Array<[string, EntityTag]> = [
    ['"xyzzy"', { weak: false, opaque: 'xyzzy' }],
    ['W/"xyzzy"', { weak: true, opaque: 'xyzzy' }],
    ['""', { weak: false, opaque: '' }],
    ['W/""', { weak: true, opaque: '' }],
    ['"a,b"', { weak: false, opaque: 'a,b' }], // a comma is an etagc
    ['"W/x"', { weak: false, opaque: 'W/x' }],
    ['"!#~"', { weak: false, opaque: '!#~' }],
    ['"caf\u00e9"', { weak: false, opaque: 'caf\u00e9' }], // obs-text (latin1)
    ['"\u0080\u00ff"', { weak: false, opaque: '\u0080\u00ff' }],
  ];
  it.each(valid)('parses %s', (text, tag) => {
    expect(parseEntityTag(text)).toEqual(tag);
  });

  const invalid = [
    '',
    'xyzzy',
    '"xyzzy',
    'xyzzy"',
    'w/"xyzzy"', // lower-case w is not a weak prefix
    'W/xyzzy',
    'W/',
    'W"x"',
    ' "x"',
    '"x" ',
    '"x"y',
    '"x""y"',
    '"a b"', // space is not an etagc
    '"a\tb"',
    '"a"b"',
    '"\u0100"', // above latin1: not a field byte
    '"\u{1F600}"',
    '"a\\"b"', // no escaping inside entity-tags
    '*',
    '"x", "y"',
    '"\u007f"',
  ];
  it.each(invalid)('rejects %j', (text) => {
    expect(parseEntityTag(text)).toBeUndefined();
  });

  it('rejects non-strings without throwing', () => {
    expect(parseEntityTag(undefined as unknown as string)).toBeUndefined();
    expect(parseEntityTag(42 as unknown as string)).toBeUndefined();
  });
});

describe('formatEntityTag', () => {
  it.each([
    [{ weak: false, opaque: 'abc' }, '"abc"'],
    [{ weak: true, opaque: 'abc' }, 'W/"abc"'],
    [{ weak: false, opaque: '' }, '""'],
  ])('formats %j as %s', (tag, text) => {
    expect(formatEntityTag(tag)).toBe(text);
  });
  it.each(['a"b', 'a b', '\u0100', '\n'])('throws for opaque %j', (opaque) => {
    expect(() => formatEntityTag({ weak: false, opaque })).toThrow(TypeError);
  });
});

// RFC 9110 8.8.3.2, the comparison table.
describe('comparison (RFC 9110 8.8.3.2 table)', () => {
  const rows: Array<[string, string, boolean, boolean]> = [
    ['W/"1"', 'W/"1"', false, true],
    ['W/"1"', 'W/"2"', false, false],
    ['W/"1"', '"1"', false, true],
    ['"1"', '"1"', true, true],
    ['"1"', '"2"', false, false],
    ['""', '""', true, true],
    ['"a"', '"A"', false, false], // opaque is case-sensitive
  ];
  it.each(rows)('%s vs %s: strong %s, weak %s', (a, b, strong, weak) => {
    const ta = parseEntityTag(a)!;
    const tb = parseEntityTag(b)!;
    expect(strongMatch(ta, tb)).toBe(strong);
    expect(strongMatch(tb, ta)).toBe(strong);
    expect(weakMatch(ta, tb)).toBe(weak);
    expect(weakMatch(tb, ta)).toBe(weak);
  });
});
