// merge3 and threeWayMerge: table tests of the three-way JSON merge, and
// threeWayMerge as update()'s merge against the real server.

import {
  changedPaths,
  IfMatchClient,
  type JsonPath,
  jsonEqual,
  jsonPointer,
  MergeConflictError,
  merge3,
  threeWayMerge,
} from '@ifmatch/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from './helpers/server.js';

interface Row {
  name: string;
  base: unknown;
  mine: unknown;
  theirs: unknown;
  merged: unknown;
  conflicts: JsonPath[];
}

const rows: Row[] = [
  {
    name: 'different top-level members',
    base: { a: 1, b: 1 },
    mine: { a: 2, b: 1 },
    theirs: { a: 1, b: 3 },
    merged: { a: 2, b: 3 },
    conflicts: [],
  },
  {
    name: 'different members of a nested object, and a member added',
    base: { n: { x: 1, y: 1 }, t: 't' },
    mine: { n: { x: 2, y: 1 }, t: 't' },
    theirs: { n: { x: 1, y: 3 }, t: 't', c: 'new' },
    merged: { n: { x: 2, y: 3 }, t: 't', c: 'new' },
    conflicts: [],
  },
  {
    name: 'the same member changed differently: conflict, mine kept there',
    base: { a: 1, b: 1 },
    mine: { a: 2, b: 1 },
    theirs: { a: 3, b: 5 },
    merged: { a: 2, b: 5 },
    conflicts: [['a']],
  },
  {
    name: 'the same change on both sides is no conflict',
    base: { a: 1, tags: ['x'] },
    mine: { a: 2, tags: ['x', 'y'] },
    theirs: { a: 2, tags: ['x', 'y'] },
    merged: { a: 2, tags: ['x', 'y'] },
    conflicts: [],
  },
  {
    name: 'an array is one value: changed on one side only, taken whole',
    base: { l: [1, 2, 3], t: 'a' },
    mine: { l: [1, 2, 3], t: 'b' },
    theirs: { l: [0, 1, 2, 3], t: 'a' },
    merged: { l: [0, 1, 2, 3], t: 'b' },
    conflicts: [],
  },
  {
    name: 'an array changed on both sides (different indices) is a conflict at the array',
    base: { l: [1, 2] },
    mine: { l: [1, 3] },
    theirs: { l: [4, 2] },
    merged: { l: [1, 3] },
    conflicts: [['l']],
  },
  {
    name: 'a deletion on my side, a change elsewhere on theirs',
    base: { a: 1, b: 1 },
    mine: { b: 1 },
    theirs: { a: 1, b: 2 },
    merged: { b: 2 },
    conflicts: [],
  },
  {
    name: 'a deletion on their side, a change elsewhere on mine',
    base: { a: 1, b: 1 },
    mine: { a: 1, b: 9 },
    theirs: { b: 1 },
    merged: { b: 9 },
    conflicts: [],
  },
  {
    name: 'both deleted the same member',
    base: { a: 1, b: 1 },
    mine: { b: 1 },
    theirs: { b: 1 },
    merged: { b: 1 },
    conflicts: [],
  },
  {
    name: 'deleted on one side, changed inside on the other: conflict at the member',
    base: { n: { x: 1 } },
    mine: {},
    theirs: { n: { x: 2 } },
    merged: {},
    conflicts: [['n']],
  },
  {
    name: 'both added the same member with different values',
    base: {},
    mine: { a: 1 },
    theirs: { a: 2 },
    merged: { a: 1 },
    conflicts: [['a']],
  },
  {
    name: 'both added the same object member: merged inside',
    base: {},
    mine: { o: { x: 1 } },
    theirs: { o: { y: 2 } },
    merged: { o: { x: 1, y: 2 } },
    conflicts: [],
  },
  {
    name: 'deep nesting, one conflict among merged changes',
    base: { a: { b: { c: 1, d: 1 }, e: 1 } },
    mine: { a: { b: { c: 2, d: 1 }, e: 5 } },
    theirs: { a: { b: { c: 3, d: 4 }, e: 1 } },
    merged: { a: { b: { c: 2, d: 4 }, e: 5 } },
    conflicts: [['a', 'b', 'c']],
  },
  {
    name: 'a type change at the root against a member change',
    base: { a: 1 },
    mine: [1],
    theirs: { a: 2 },
    merged: [1],
    conflicts: [[]],
  },
  {
    name: 'scalars: only theirs changed',
    base: 1,
    mine: 1,
    theirs: 2,
    merged: 2,
    conflicts: [],
  },
  {
    name: 'null is a value, not a deletion',
    base: { a: 1, b: 1 },
    mine: { a: null, b: 1 },
    theirs: { a: 1, b: 2 },
    merged: { a: null, b: 2 },
    conflicts: [],
  },
];

describe('merge3', () => {
  it.each(rows)('$name', ({ base, mine, theirs, merged, conflicts }) => {
    const result = merge3(base, mine, theirs);
    expect(result.merged).toEqual(merged);
    expect(result.conflicts).toEqual(conflicts);
    expect(result.mine).toEqual(changedPaths(base, mine));
    expect(result.theirs).toEqual(changedPaths(base, theirs));
  });

  it('reports the paths each side changed', () => {
    const r = merge3(
      { title: 't', owner: 'a', meta: { n: 1 } },
      { title: 't', owner: 'b', meta: { n: 1 } },
      { title: 'T', owner: 'a', meta: { n: 2 } },
    );
    expect(r.mine).toEqual([['owner']]);
    expect(r.theirs).toEqual([['meta', 'n'], ['title']]);
    expect(r.conflicts).toEqual([]);
  });

  it('keeps __proto__ as a plain own member and touches no prototype', () => {
    const mine = JSON.parse('{"__proto__": {"p": 1}, "a": 1}');
    const r = merge3({}, mine, { b: 2 });
    expect(Object.hasOwn(r.merged as object, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
    expect(JSON.stringify(r.merged)).toBe('{"b":2,"__proto__":{"p":1},"a":1}');
  });

  it('leaves its inputs alone (they may be frozen cache values)', () => {
    const base = Object.freeze({ a: 1, n: Object.freeze({ x: 1 }) });
    const mine = Object.freeze({ a: 2, n: Object.freeze({ x: 1 }) });
    const theirs = Object.freeze({ a: 1, n: Object.freeze({ x: 2 }) });
    expect(merge3(base, mine, theirs).merged).toEqual({ a: 2, n: { x: 2 } });
    expect(base).toEqual({ a: 1, n: { x: 1 } });
  });
});

describe('jsonPointer', () => {
  it.each([
    [[], ''],
    [['a', 0, 'b'], '/a/0/b'],
    [['a/b', 'c~d'], '/a~1b/c~0d'],
  ] as [JsonPath, string][])('%j -> %s', (path, pointer) => {
    expect(jsonPointer(path)).toBe(pointer);
  });
});

describe('threeWayMerge', () => {
  it('returns the merge when the sides changed different paths', () => {
    expect(threeWayMerge({ a: 1, b: 1 }, { a: 2, b: 1 }, { a: 1, b: 3 })).toEqual({ a: 2, b: 3 });
  });

  it('throws MergeConflictError with the overlapping paths', () => {
    const error = (() => {
      try {
        threeWayMerge({ a: 1, n: { x: 1 } }, { a: 2, n: { x: 2 } }, { a: 3, n: { x: 3 } });
      } catch (e) {
        return e;
      }
    })() as MergeConflictError;
    expect(error).toBeInstanceOf(MergeConflictError);
    expect(error.conflicts).toEqual([['a'], ['n', 'x']]);
    expect(error.message).toContain('/a, /n/x');
    expect(error.mine).toEqual([['a'], ['n', 'x']]);
    expect(error.versions.theirs).toEqual({ a: 3, n: { x: 3 } });
  });

  describe("as update()'s merge, against the real server", () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer();
    });
    afterAll(async () => {
      await server?.close();
    });

    it('writes both edits when another client changed a different member in between', async () => {
      const path = `/api/merge-test/m${Date.now()}`;
      const other = new IfMatchClient({ baseUrl: server.url });
      await other.create(path, { title: 'draft', owner: 'ann', n: 1 });
      const me = new IfMatchClient({ baseUrl: server.url });
      let calls = 0;
      const result = await me.update<{ title: string; owner: string; n: number }>(
        path,
        async (doc) => {
          calls++;
          // The other client writes while my edit is in hand: my PUT gets a 412.
          if (calls === 1) await other.update(path, (d) => ({ ...(d as object), title: 'final' }));
          return { ...doc, owner: 'bob' };
        },
        { merge: threeWayMerge },
      );
      expect(calls).toBe(1); // merged, not re-applied
      expect(result.conflicts).toBe(1);
      expect(result.value).toEqual({ title: 'final', owner: 'bob', n: 1 });
      const stored = await new IfMatchClient({ baseUrl: server.url }).get(path);
      expect(stored.value).toEqual({ title: 'final', owner: 'bob', n: 1 });
    });

    it('stops with MergeConflictError when both changed the same member; nothing of mine is written', async () => {
      const path = `/api/merge-test/c${Date.now()}`;
      const other = new IfMatchClient({ baseUrl: server.url });
      await other.create(path, { title: 'draft', n: 1 });
      const me = new IfMatchClient({ baseUrl: server.url });
      let calls = 0;
      const failure = await me
        .update<{ title: string; n: number }>(
          path,
          async (doc) => {
            if (++calls === 1) {
              await other.update(path, (d) => ({ ...(d as object), title: 'theirs' }));
            }
            return { ...doc, title: 'mine' };
          },
          { merge: threeWayMerge },
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(failure).toBeInstanceOf(MergeConflictError);
      expect((failure as MergeConflictError).conflicts).toEqual([['title']]);
      const stored = await new IfMatchClient({ baseUrl: server.url }).get(path);
      expect(stored.value).toEqual({ title: 'theirs', n: 1 });
    });
  });
});

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
    expect(changedPaths(base, next).map(jsonPointer)).toEqual([
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
});
