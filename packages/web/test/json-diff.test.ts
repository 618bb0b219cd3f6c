import { describe, expect, it } from 'vitest';
import { changedPaths, formatPath, jsonEqual, merge3 } from '../src/json-diff.js';

describe('jsonEqual', () => {
  it.each([
    [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: undefined }, false],
    [[1, 2], [2, 1], false],
    [null, {}, false],
    [{}, [], false],
    ['1', 1, false],
  ])('%j vs %j -> %s', (a, b, eq) => {
    expect(jsonEqual(a, b)).toBe(eq);
  });
});

describe('changedPaths', () => {
  it('reports top-level and nested key paths, added and removed keys', () => {
    const base = { title: 't', meta: { tags: ['a'], n: 1 }, gone: true };
    const next = { title: 't', meta: { tags: ['a', 'b'], n: 2 }, added: 1 };
    expect(changedPaths(base, next).map(formatPath)).toEqual([
      '/added',
      '/gone',
      '/meta/n',
      '/meta/tags',
    ]);
  });
  it('recurses into arrays of equal length by index', () => {
    expect(changedPaths({ l: [{ x: 1 }, { x: 2 }] }, { l: [{ x: 1 }, { x: 3 }] })).toEqual([
      ['l', 1, 'x'],
    ]);
  });
  it('is empty for equal values and the root for a type change', () => {
    expect(changedPaths({ a: [1] }, { a: [1] })).toEqual([]);
    expect(changedPaths({ a: 1 }, [1])).toEqual([[]]);
  });
  it('escapes JSON Pointer characters', () => {
    expect(formatPath(['a/b', 'c~d'])).toBe('/a~1b/c~0d');
  });
});

describe('merge3', () => {
  it('takes both sides when they changed different fields (nested too)', () => {
    const base = { a: 1, b: 1, n: { x: 1, y: 1 } };
    const mine = { a: 2, b: 1, n: { x: 2, y: 1 } };
    const theirs = { a: 1, b: 3, n: { x: 1, y: 3 }, c: 'new' };
    const r = merge3(base, mine, theirs);
    expect(r.conflicts).toEqual([]);
    expect(r.merged).toEqual({ a: 2, b: 3, n: { x: 2, y: 3 }, c: 'new' });
  });
  it('reports a field both changed differently and keeps mine there', () => {
    const r = merge3({ a: 1, b: 1 }, { a: 2, b: 1 }, { a: 3, b: 5 });
    expect(r.conflicts).toEqual([['a']]);
    expect(r.merged).toEqual({ a: 2, b: 5 });
  });
  it('honours deletions on either side', () => {
    expect(merge3({ a: 1, b: 1 }, { b: 1 }, { a: 1, b: 2 }).merged).toEqual({ b: 2 });
    expect(merge3({ a: 1, b: 1 }, { a: 1, b: 9 }, { b: 1 }).merged).toEqual({ b: 9 });
  });
  it('same change on both sides is no conflict', () => {
    expect(merge3({ a: 1 }, { a: 2 }, { a: 2 })).toMatchObject({ merged: { a: 2 }, conflicts: [] });
  });
  it('keeps __proto__ as a plain own key', () => {
    const mine = JSON.parse('{"__proto__": {"p": 1}, "a": 1}');
    const r = merge3({}, mine, { b: 2 });
    expect(Object.hasOwn(r.merged as object, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
    expect(JSON.stringify(r.merged)).toBe('{"b":2,"__proto__":{"p":1},"a":1}');
  });
});
