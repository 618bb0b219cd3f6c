import { type EntityTagList, parseEntityTagList } from '@ifmatch/core';
import { describe, expect, it } from 'vitest';

const s = (opaque: string) => ({ weak: false, opaque });
const w = (opaque: string) => ({ weak: true, opaque });

describe('parseEntityTagList', () => {
  it.each([undefined, null, [] as string[]])('absent field (%j) is undefined', (value) => {
    expect(parseEntityTagList(value)).toBeUndefined();
  });

  const rows: Array<[string | string[], EntityTagList]> = [
    ['*', { type: 'any' }],
    [' * ', { type: 'any' }],
    ['\t*\t', { type: 'any' }],
    [['*'], { type: 'any' }],
    ['"a"', { type: 'tags', tags: [s('a')] }],
    ['W/"a"', { type: 'tags', tags: [w('a')] }],
    ['"a","b"', { type: 'tags', tags: [s('a'), s('b')] }],
    ['"a", W/"b" , "c"', { type: 'tags', tags: [s('a'), w('b'), s('c')] }],
    ['"a",\t"b"', { type: 'tags', tags: [s('a'), s('b')] }],
    // RFC 9110 5.6.1: empty elements are tolerated.
    [', "a" ,, , "b",', { type: 'tags', tags: [s('a'), s('b')] }],
    [',,"a"', { type: 'tags', tags: [s('a')] }],
    // a comma inside quotes belongs to the tag
    ['"a,b", "c"', { type: 'tags', tags: [s('a,b'), s('c')] }],
    ['"", W/""', { type: 'tags', tags: [s(''), w('')] }],
    // several field lines are one list
    [['"a"', 'W/"b"'], { type: 'tags', tags: [s('a'), w('b')] }],
    [['"a", "b"', '"c"'], { type: 'tags', tags: [s('a'), s('b'), s('c')] }],
    [['', '"a"'], { type: 'tags', tags: [s('a')] }],
    // malformed: junk anywhere, never half-parsed
    ['a', { type: 'malformed' }],
    ['"a" "b"', { type: 'malformed' }],
    ['"a", b', { type: 'malformed' }],
    ['"a", "b', { type: 'malformed' }],
    ['"a";', { type: 'malformed' }],
    ['w/"a"', { type: 'malformed' }],
    ['"a", w/"b"', { type: 'malformed' }],
    ['W/ "a"', { type: 'malformed' }],
    ['"a b"', { type: 'malformed' }],
    ['"a"x', { type: 'malformed' }],
    ['"a"\n', { type: 'malformed' }],
    ['"\u0100"', { type: 'malformed' }],
    // "*" is the whole value, never a member
    ['*, "a"', { type: 'malformed' }],
    ['"a", *', { type: 'malformed' }],
    ['*, *', { type: 'malformed' }],
    [['*', '"a"'], { type: 'malformed' }],
    [['*', '*'], { type: 'malformed' }],
    ['**', { type: 'malformed' }],
    ['*a', { type: 'malformed' }],
    // no element at all: 1#entity-tag needs one
    ['', { type: 'malformed' }],
    ['  ', { type: 'malformed' }],
    [' , ,', { type: 'malformed' }],
    [[''], { type: 'malformed' }],
  ];
  it.each(rows)('%j -> %j', (value, expected) => {
    expect(parseEntityTagList(value)).toEqual(expected);
  });

  it('is malformed for non-string array members instead of throwing', () => {
    expect(parseEntityTagList([1 as unknown as string])).toEqual({ type: 'malformed' });
  });

  it('parses a long list linearly', () => {
    const value = Array.from({ length: 20_000 }, (_, i) => `W/"${i}"`).join(', ');
    const list = parseEntityTagList(value);
    expect(list?.type).toBe('tags');
    expect(list?.type === 'tags' && list.tags.length).toBe(20_000);
  });
});
