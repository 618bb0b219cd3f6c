import {
  canonicalJson,
  evaluateIfRange,
  evaluatePreconditions,
  formatEntityTag,
  formatHttpDate,
  parseEntityTag,
  parseEntityTagList,
  parseHttpDate,
  strongMatch,
  weakMatch,
} from '@ifmatch/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toWholeSeconds } from '../src/http-date.js';

// fast-check 4: fullUnicodeString is string({ unit: 'binary' }).
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'binary-ascii' }),
  // strings built from the grammar's own characters hit the interesting paths
  fc.string({
    unit: fc.constantFrom('"', 'W', '/', ',', ' ', '\t', '*', 'a', 'w', '\u00e9', '\u0100'),
  }),
);
const fieldValue = fc.oneof(anyString, fc.array(anyString, { maxLength: 4 }));

const etagcChar = fc.oneof(
  fc.constant('!'),
  fc.integer({ min: 0x23, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
);
const entityTag = fc.record({
  weak: fc.boolean(),
  opaque: fc.string({ unit: etagcChar, maxLength: 20 }),
});

describe('properties', () => {
  it('parsers never throw, on any string or array of strings', () => {
    fc.assert(
      fc.property(fieldValue, (value) => {
        if (typeof value === 'string') parseEntityTag(value);
        parseEntityTagList(value);
        parseHttpDate(value);
        evaluateIfRange(value, { exists: true, etag: '"a"', lastModified: 0 });
      }),
      { numRuns: 3000 },
    );
  });

  it('the evaluator never throws and only answers proceed, 304 or 412', () => {
    const method = fc.constantFrom('GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'POST', 'get');
    const headers = fc.record(
      {
        ifMatch: fieldValue,
        ifNoneMatch: fieldValue,
        ifModifiedSince: fieldValue,
        ifUnmodifiedSince: fieldValue,
        ifRange: fieldValue,
        range: fieldValue,
      },
      { requiredKeys: [] },
    );
    const current = fc.record(
      {
        exists: fc.boolean(),
        etag: fc.oneof(entityTag.map(formatEntityTag), anyString),
        alternateETags: fc.array(anyString, { maxLength: 3 }),
        lastModified: fc.oneof(fc.integer(), fc.double()),
      },
      { requiredKeys: ['exists'] },
    );
    fc.assert(
      fc.property(method, headers, current, (m, h, c) => {
        const e = evaluatePreconditions(m, h, c);
        expect(['proceed', 304, 412]).toContain(e.status);
        if (e.status === 304) expect(['GET', 'HEAD']).toContain(m);
      }),
      { numRuns: 3000 },
    );
  });

  it('a malformed If-Match never lets a request through', () => {
    fc.assert(
      fc.property(anyString, (value) => {
        fc.pre(parseEntityTagList(value)?.type === 'malformed');
        const e = evaluatePreconditions('PUT', { ifMatch: value }, { exists: true, etag: '"a"' });
        expect(e).toEqual({ status: 412, precondition: 'If-Match', malformed: true });
      }),
    );
  });

  it('format then parse returns the same tag, alone and in a list', () => {
    fc.assert(
      fc.property(fc.array(entityTag, { minLength: 1, maxLength: 5 }), (tags) => {
        for (const tag of tags) expect(parseEntityTag(formatEntityTag(tag))).toEqual(tag);
        expect(parseEntityTagList(tags.map(formatEntityTag).join(' , '))).toEqual({
          type: 'tags',
          tags,
        });
        expect(parseEntityTagList(tags.map(formatEntityTag))).toEqual({ type: 'tags', tags });
      }),
    );
  });

  it('comparisons are symmetric and strong implies weak', () => {
    const pair = fc.oneof(
      fc.tuple(entityTag, entityTag),
      // same opaque, independent weakness: makes matches frequent
      fc
        .tuple(entityTag, fc.boolean())
        .map(([a, weak]): [typeof a, typeof a] => [a, { weak, opaque: a.opaque }]),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => {
        expect(strongMatch(a, b)).toBe(strongMatch(b, a));
        expect(weakMatch(a, b)).toBe(weakMatch(b, a));
        if (strongMatch(a, b)) expect(weakMatch(a, b)).toBe(true);
        expect(weakMatch(a, a)).toBe(true);
        expect(strongMatch(a, a)).toBe(!a.weak);
      }),
    );
  });

  it('parseHttpDate(formatHttpDate(t)) is t floored to whole seconds', () => {
    const t = fc.integer({ min: -62135596800000, max: 253402300799999 }); // years 0001-9999
    fc.assert(
      fc.property(t, (ms) => {
        expect(parseHttpDate(formatHttpDate(ms))).toBe(toWholeSeconds(ms));
        expect(parseHttpDate(formatHttpDate(new Date(ms)))).toBe(toWholeSeconds(ms));
      }),
      { numRuns: 2000 },
    );
  });

  it('canonicalJson is parseable, idempotent and independent of key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        const back = JSON.parse(text);
        expect(canonicalJson(back)).toBe(text);
        if (back !== null && typeof back === 'object' && !Array.isArray(back)) {
          const reversed = Object.fromEntries(Object.entries(back).reverse());
          expect(canonicalJson(reversed)).toBe(text);
        }
      }),
    );
  });
});
