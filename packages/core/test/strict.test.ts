import {
  conditionalHeaders,
  hasPrecondition,
  preconditionFailedProblem,
  preconditionRequired,
  preconditionRequiredProblem,
  requiresPrecondition,
} from '@ifmatch/core';
import { describe, expect, it } from 'vitest';

describe('requiresPrecondition / preconditionRequired (RFC 6585 428)', () => {
  it.each([
    ['PUT', true],
    ['PATCH', true],
    ['DELETE', true],
    ['GET', false],
    ['HEAD', false],
    ['POST', false],
    ['OPTIONS', false],
  ])('%s requires: %s', (method, expected) => {
    expect(requiresPrecondition(method)).toBe(expected);
  });

  const rows: Array<[string, Record<string, string | string[]>, boolean]> = [
    ['PUT', {}, true],
    ['PATCH', {}, true],
    ['DELETE', {}, true],
    ['PUT', { 'if-match': '"v1"' }, false],
    ['PUT', { 'if-none-match': '*' }, false],
    ['DELETE', { 'If-Match': '*' }, false],
    ['PATCH', { 'if-match': 'junk' }, false], // present: the evaluator answers 412 instead
    // other conditionals are not enough: they cannot make a write exact
    ['PUT', { 'if-unmodified-since': 'Mon, 01 Jan 2024 12:00:00 GMT' }, true],
    ['PUT', { 'if-match': [] }, true],
    ['GET', {}, false],
    ['POST', {}, false],
  ];
  it.each(rows)('%s with %j -> 428: %s', (method, record, expected) => {
    expect(preconditionRequired(method, conditionalHeaders(record))).toBe(expected);
    expect(preconditionRequired(method, conditionalHeaders(new Headers(toPairs(record))))).toBe(
      expected,
    );
  });
});

function toPairs(record: Record<string, string | string[]>): [string, string][] {
  return Object.entries(record).flatMap(([k, v]) =>
    Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v]],
  );
}

describe('conditionalHeaders', () => {
  it('reads a web Headers object (lines already joined)', () => {
    const h = new Headers();
    h.append('If-Match', '"a"');
    h.append('If-Match', '"b"');
    h.set('If-Modified-Since', 'Mon, 01 Jan 2024 12:00:00 GMT');
    h.set('Range', 'bytes=0-1');
    h.set('Content-Type', 'text/plain');
    expect(conditionalHeaders(h)).toEqual({
      ifMatch: '"a", "b"',
      ifModifiedSince: 'Mon, 01 Jan 2024 12:00:00 GMT',
      range: 'bytes=0-1',
    });
  });

  it("reads Node's headersDistinct and plain records, case-insensitively", () => {
    const distinct = Object.assign(Object.create(null), {
      'if-none-match': ['"a"', 'W/"b"'],
      'if-unmodified-since': ['x', 'y'],
      'if-range': ['"r"'],
      host: ['example'],
    });
    expect(conditionalHeaders(distinct)).toEqual({
      ifNoneMatch: ['"a"', 'W/"b"'],
      ifUnmodifiedSince: ['x', 'y'],
      ifRange: ['"r"'],
    });
    expect(conditionalHeaders({ 'If-Match': '"a"', IF_MATCH: 'no', range: undefined })).toEqual({
      ifMatch: '"a"',
    });
    expect(conditionalHeaders({ 'If-Match': '"a"', 'if-match': ['"b"'] })).toEqual({
      ifMatch: ['"a"', '"b"'],
    });
  });

  it('hasPrecondition', () => {
    expect(hasPrecondition({})).toBe(false);
    expect(hasPrecondition({ ifModifiedSince: 'x' })).toBe(false);
    expect(hasPrecondition({ ifMatch: '' })).toBe(true);
    expect(hasPrecondition({ ifNoneMatch: ['*'] })).toBe(true);
  });
});

describe('problems (RFC 9457)', () => {
  it('412 names the precondition and carries the current ETag', () => {
    const p = preconditionFailedProblem(
      { status: 412, precondition: 'If-Match', malformed: false },
      '"v2"',
    );
    expect(p).toMatchObject({
      type: 'https://ifmatch.dev/problems/precondition-failed',
      title: 'Precondition Failed',
      status: 412,
      precondition: 'If-Match',
      etag: '"v2"',
    });
    expect(p.detail).toContain('If-Match');
    expect(p['malformed']).toBeUndefined();
  });

  it.each(['If-Match', 'If-None-Match', 'If-Unmodified-Since'] as const)(
    '412 detail for %s names it',
    (precondition) => {
      for (const malformed of [false, true]) {
        const p = preconditionFailedProblem({ status: 412, precondition, malformed });
        expect(p.detail).toContain(precondition);
        expect('etag' in p).toBe(false);
        expect(p['malformed'] === true).toBe(malformed);
        expect(JSON.parse(JSON.stringify(p))).toEqual(p);
      }
    },
  );

  it('428 names the header to send', () => {
    const put = preconditionRequiredProblem('PUT');
    expect(put).toMatchObject({
      type: 'https://ifmatch.dev/problems/precondition-required',
      title: 'Precondition Required',
      status: 428,
    });
    expect(put.detail).toContain('If-Match');
    expect(put.detail).toContain('If-None-Match: *');
    const del = preconditionRequiredProblem('DELETE');
    expect(del.detail).toContain('DELETE');
    expect(del.detail).toContain('If-Match');
    expect(del.detail).not.toContain('If-None-Match');
  });
});

describe('create-only conflict wording', () => {
  it('If-None-Match: * reads plainly, a tag list is named as such', () => {
    const star = preconditionFailedProblem(
      { status: 412, precondition: 'If-None-Match', malformed: false },
      '"v1"',
    );
    expect(star.detail).toBe(
      'The resource already exists (If-None-Match: *), so it was not created.',
    );
    const tags = preconditionFailedProblem({
      status: 412,
      precondition: 'If-None-Match',
      malformed: false,
      anyTag: false,
    });
    expect(tags.detail).toContain('If-None-Match lists');
  });
});
