import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import {
  type ConditionalHeaders,
  conditionalHeaders,
  evaluatePreconditions,
  hasPrecondition,
  preconditionRequired,
} from '@ifmatch/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// "Present" has one definition: what evaluatePreconditions evaluates. A write is
// let through strict mode only if a field it carries is then evaluated.
describe('hasPrecondition agrees with evaluation', () => {
  const CUR = { exists: true, etag: '"v2"' };
  const rows: Array<[string, ConditionalHeaders, boolean]> = [
    ['nothing', {}, false],
    ['dates only', { ifModifiedSince: 'x', ifUnmodifiedSince: 'y' }, false],
    ['ifMatch: [] (hand-built)', { ifMatch: [] }, false],
    ['ifNoneMatch: [] (hand-built)', { ifNoneMatch: [] }, false],
    ['both []', { ifMatch: [], ifNoneMatch: [] }, false],
    ['ifMatch: "" (present, malformed)', { ifMatch: '' }, true],
    ['ifMatch: [""]', { ifMatch: [''] }, true],
    ['ifMatch: a tag', { ifMatch: '"v1"' }, true],
    ['ifNoneMatch: ["*"]', { ifNoneMatch: ['*'] }, true],
    ['ifMatch [] and ifNoneMatch "*"', { ifMatch: [], ifNoneMatch: '*' }, true],
  ];

  it.each(rows)('%s -> %s', (_name, headers, present) => {
    expect(hasPrecondition(headers)).toBe(present);
    expect(preconditionRequired('PUT', headers)).toBe(!present);
  });

  it('a field counted as present is one that can fail the write', () => {
    // With a stale tag (or "*" on an existing document) every present field
    // must give a 412; an absent one proceeds.
    const stale: ConditionalHeaders[] = [
      { ifMatch: '"v1"' },
      { ifMatch: ['"v1"'] },
      { ifNoneMatch: '*' },
      { ifNoneMatch: ['"v2"'] },
    ];
    for (const headers of stale) {
      expect(hasPrecondition(headers)).toBe(true);
      expect(evaluatePreconditions('PUT', headers, CUR).status).toBe(412);
    }
    for (const headers of [{ ifMatch: [] }, { ifNoneMatch: [] }] as ConditionalHeaders[]) {
      expect(hasPrecondition(headers)).toBe(false);
      expect(evaluatePreconditions('PUT', headers, CUR).status).toBe('proceed');
    }
  });

  it('conditionalHeaders never yields an empty list', () => {
    expect(conditionalHeaders({ 'if-match': [] })).toEqual({});
    expect(hasPrecondition(conditionalHeaders({ 'if-match': [] }))).toBe(false);
    expect(hasPrecondition(conditionalHeaders({ 'if-match': ['"a"'] }))).toBe(true);
    expect(hasPrecondition(conditionalHeaders(new Headers({ 'If-None-Match': '*' })))).toBe(true);
  });
});

// Node's req.rawHeaders (the field lines as received) is what the node:http
// adapters read. The reference is Node's own req.headersDistinct of the same
// lines: both readings must evaluate every request alike.
describe('conditionalHeaders from raw header lines', () => {
  it('keeps every line of a field, in order, under any spelling; ignores other fields', () => {
    expect(
      conditionalHeaders([
        'Host',
        'example',
        'If-Match',
        '"a"',
        'IF-MATCH',
        '"b", "c"',
        'if-match',
        '"d"',
        'If-None-Match',
        'W/"x"',
        'If-Modified-Since',
        'Sun, 06 Nov 1994 08:49:37 GMT',
        'If-Unmodified-Since',
        'x',
        'if-unmodified-since',
        'y',
        'If-Range',
        '"r"',
        'Range',
        'bytes=0-1',
        'Accept',
        '*/*',
      ]),
    ).toEqual({
      ifMatch: ['"a"', '"b", "c"', '"d"'],
      ifNoneMatch: 'W/"x"',
      ifModifiedSince: 'Sun, 06 Nov 1994 08:49:37 GMT',
      ifUnmodifiedSince: ['x', 'y'],
      ifRange: '"r"',
      range: 'bytes=0-1',
    });
  });

  it('names of the same length that are not conditional fields are ignored', () => {
    expect(
      conditionalHeaders([
        'if-matcx',
        '"a"',
        'if_match',
        '"a"',
        'X-Range',
        'bytes=0-1',
        'rangE',
        'bytes=2-3',
        'if-none-matcH',
        '*',
        'if-modified-sincf',
        'x',
        'IfXunmodifiedXsince',
        'y',
        'if\rmatch',
        '"b"',
      ]),
    ).toEqual({ range: 'bytes=2-3', ifNoneMatch: '*' });
  });

  it('an empty line is present (and malformed), no lines is absent', () => {
    expect(conditionalHeaders(['If-Match', ''])).toEqual({ ifMatch: '' });
    expect(hasPrecondition(conditionalHeaders(['If-Match', '']))).toBe(true);
    expect(conditionalHeaders([])).toEqual({});
    expect(hasPrecondition(conditionalHeaders(['Host', 'h']))).toBe(false);
  });

  it("evaluates like Node's headersDistinct of the same lines, for any lines", () => {
    const NOW = Date.UTC(2024, 0, 1, 12);
    const DATE = 'Mon, 01 Jan 2024 12:00:00 GMT';
    const name = fc.constantFrom(
      'If-Match',
      'if-match',
      'IF-MATCH',
      'If-None-Match',
      'if-none-match',
      'If-Modified-Since',
      'if-modified-since',
      'If-Unmodified-Since',
      'If-Range',
      'Range',
      'range',
      'Host',
      'Accept',
      'X-If-Match',
    );
    const value = fc.constantFrom(
      '"v1"',
      'W/"v1"',
      '"v0"',
      '"v0", "v1"',
      '*',
      '',
      'junk',
      DATE,
      'Sun, 31 Dec 2023 12:00:00 GMT',
      'Tue, 02 Jan 2024 12:00:00 GMT',
      'bytes=0-1',
    );
    const lines = fc.array(fc.tuple(name, value), { maxLength: 6 });
    const current = fc.record({
      exists: fc.boolean(),
      etag: fc.constantFrom('"v1"', 'W/"v1"', '"v2"'),
      lastModified: fc.constant(NOW),
    });
    fc.assert(
      fc.property(
        lines,
        fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE'),
        current,
        (ls, method, cur) => {
          const raw = ls.flat();
          const req = new IncomingMessage(new Socket());
          // What Node's HTTP parser does with the received lines.
          (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(
            [...raw],
            raw.length,
          );
          const fromRaw = conditionalHeaders(req.rawHeaders);
          const fromDistinct = conditionalHeaders(req.headersDistinct);
          expect(evaluatePreconditions(method, fromRaw, cur)).toEqual(
            evaluatePreconditions(method, fromDistinct, cur),
          );
          expect(hasPrecondition(fromRaw)).toBe(hasPrecondition(fromDistinct));
          // Same lines, same order: only a one-line field's form differs (string vs [string]).
          const lists = (c: ConditionalHeaders) =>
            Object.fromEntries(
              Object.entries(c).map(([k, v]) => [k, typeof v === 'string' ? [v] : v]),
            );
          expect(lists(fromRaw)).toEqual(lists(fromDistinct));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
