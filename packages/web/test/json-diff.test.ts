// The web app's own path helpers. jsonEqual, changedPaths and merge3 come from
// @ifmatch/client (json-diff.ts re-exports them) and are tested there
// (packages/client/test/merge.test.ts).
import { describe, expect, it } from 'vitest';
import { changedPaths, formatPath, isPrefix, parseJson, pathKey } from '../src/json-diff.js';

describe('formatPath', () => {
  it('is a JSON Pointer, members and indexes joined by /; the root is named', () => {
    expect(formatPath([])).toBe('(whole document)');
    expect(formatPath(['meta', 'tags', 1])).toBe('/meta/tags/1');
  });
  it('escapes JSON Pointer characters', () => {
    expect(formatPath(['a/b', 'c~d'])).toBe('/a~1b/c~0d');
  });
  it('names what changedPaths finds', () => {
    const base = { title: 't', meta: { tags: ['a'], n: 1 }, gone: true };
    const next = { title: 't', meta: { tags: ['a', 'b'], n: 2 }, added: 1 };
    expect(changedPaths(base, next).map(formatPath)).toEqual([
      '/added',
      '/gone',
      '/meta/n',
      '/meta/tags',
    ]);
  });
});

describe('isPrefix and pathKey', () => {
  it.each([
    [[], ['a'], true],
    [['a'], ['a', 'b'], true],
    [['a', 'b'], ['a', 'b'], true],
    [['a', 'b'], ['a'], false],
    [['a'], ['b'], false],
    [[0], ['0'], false],
  ] as const)('%j is a prefix of %j: %s', (prefix, path, expected) => {
    expect(isPrefix(prefix, path)).toBe(expected);
  });
  it('keys tell a member "0" from an index 0', () => {
    expect(pathKey(['a', 0])).not.toBe(pathKey(['a', '0']));
  });
});

describe('parseJson', () => {
  it('parses JSON and reports what is not', () => {
    expect(parseJson('{"a": [1, 2]}')).toEqual({ ok: true, value: { a: [1, 2] } });
    const bad = parseJson('{"a": ');
    expect(bad.ok).toBe(false);
    expect(bad.ok === false && bad.message.length > 0).toBe(true);
  });
});
