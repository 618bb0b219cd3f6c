import {
  type ConditionalHeaders,
  conditionalHeaders,
  evaluatePreconditions,
  hasPrecondition,
  preconditionRequired,
} from '@ifmatch/core';
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
