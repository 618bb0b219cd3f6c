import {
  type ConditionalHeaders,
  checkIfMatch,
  checkIfNoneMatch,
  type Evaluation,
  evaluateIfRange,
  evaluatePreconditions,
  parseEntityTagList,
  type Validators,
} from '@ifmatch/core';
import { describe, expect, it } from 'vitest';

// Last-Modified with a fraction: comparisons must use whole seconds.
const LM = Date.UTC(2024, 0, 1, 12, 0, 0) + 500;
const CUR: Validators = {
  exists: true,
  etag: '"v2"',
  alternateETags: ['"v2.gzip"', '"v2.br"'],
  lastModified: LM,
};
const CUR_DATE: Validators = { ...CUR, lastModified: new Date(LM) };
const WEAK: Validators = { exists: true, etag: 'W/"v2"', lastModified: LM };
const NO_LM: Validators = { exists: true, etag: '"v2"' };
const NONE: Validators = { exists: false };

const EQ = 'Mon, 01 Jan 2024 12:00:00 GMT'; // = Last-Modified in whole seconds
const EQ_850 = 'Monday, 01-Jan-24 12:00:00 GMT';
const EQ_ASC = 'Mon Jan  1 12:00:00 2024';
const BEFORE = 'Mon, 01 Jan 2024 11:59:59 GMT';
const BEFORE_850 = 'Monday, 01-Jan-24 11:59:59 GMT';
const BEFORE_ASC = 'Mon Jan  1 11:59:59 2024';
const AFTER = 'Mon, 01 Jan 2024 12:00:01 GMT';
const BAD_DATE = 'Mon, 32 Jan 2024 12:00:00 GMT';

const go: Evaluation = { status: 'proceed', range: false };
const goRange: Evaluation = { status: 'proceed', range: true };
const nmINM: Evaluation = { status: 304, precondition: 'If-None-Match' };
const nmIMS: Evaluation = { status: 304, precondition: 'If-Modified-Since' };
const pfIM: Evaluation = { status: 412, precondition: 'If-Match', malformed: false };
const pfIMBad: Evaluation = { status: 412, precondition: 'If-Match', malformed: true };
const pfIUS: Evaluation = { status: 412, precondition: 'If-Unmodified-Since', malformed: false };
const pfINM: Evaluation = { status: 412, precondition: 'If-None-Match', malformed: false };
const pfINMBad: Evaluation = { status: 412, precondition: 'If-None-Match', malformed: true };

type Row = [string, string, ConditionalHeaders, Validators, Evaluation];

const rows: Row[] = [
  // no preconditions
  ['nothing', 'GET', {}, CUR, go],
  ['nothing, PUT', 'PUT', {}, CUR, go],
  ['nothing, absent', 'PUT', {}, NONE, go],

  // --- If-Match (13.1.1): strong comparison, "*", lists, alternates, malformed
  ['If-Match same strong', 'PUT', { ifMatch: '"v2"' }, CUR, go],
  ['If-Match other', 'PUT', { ifMatch: '"v1"' }, CUR, pfIM],
  ['If-Match weak tag never matches', 'PUT', { ifMatch: 'W/"v2"' }, CUR, pfIM],
  ['If-Match against a weak current', 'PUT', { ifMatch: '"v2"' }, WEAK, pfIM],
  ['If-Match weak vs weak', 'PUT', { ifMatch: 'W/"v2"' }, WEAK, pfIM],
  ['If-Match list with a match', 'PUT', { ifMatch: '"v0", "v1", "v2"' }, CUR, go],
  ['If-Match list without match', 'PUT', { ifMatch: '"v0", W/"v2"' }, CUR, pfIM],
  ['If-Match several lines', 'PATCH', { ifMatch: ['"v0"', '"v2"'] }, CUR, go],
  ['If-Match gzip coding tag', 'PUT', { ifMatch: '"v2.gzip"' }, CUR, go],
  ['If-Match br coding tag', 'DELETE', { ifMatch: '"v2.br"' }, CUR, go],
  ['If-Match unknown coding tag', 'PUT', { ifMatch: '"v2.zstd"' }, CUR, pfIM],
  ['If-Match * exists', 'PUT', { ifMatch: '*' }, CUR, go],
  ['If-Match * absent', 'PUT', { ifMatch: '*' }, NONE, pfIM],
  ['If-Match tag, absent', 'PUT', { ifMatch: '"v2"' }, NONE, pfIM],
  ['If-Match tag, exists without etag', 'PUT', { ifMatch: '"v2"' }, { exists: true }, pfIM],
  ['If-Match on GET (match)', 'GET', { ifMatch: '"v2"' }, CUR, go],
  ['If-Match on GET (no match)', 'GET', { ifMatch: '"v1"' }, CUR, pfIM],
  ['If-Match malformed, PUT', 'PUT', { ifMatch: 'v2' }, CUR, pfIMBad],
  ['If-Match malformed, GET', 'GET', { ifMatch: 'v2' }, CUR, pfIMBad],
  ['If-Match malformed, HEAD', 'HEAD', { ifMatch: '"v2' }, CUR, pfIMBad],
  ['If-Match malformed, DELETE', 'DELETE', { ifMatch: '"v2", junk' }, CUR, pfIMBad],
  ['If-Match lower w/', 'PATCH', { ifMatch: 'w/"v2"' }, CUR, pfIMBad],
  ['If-Match * mixed with tags', 'PUT', { ifMatch: '*, "v2"' }, CUR, pfIMBad],
  ['If-Match empty value', 'PUT', { ifMatch: '' }, CUR, pfIMBad],
  ['If-Match malformed, absent', 'PUT', { ifMatch: 'nope' }, NONE, pfIMBad],

  // --- If-Unmodified-Since (13.1.4)
  ['IUS equal', 'PUT', { ifUnmodifiedSince: EQ }, CUR, go],
  ['IUS equal, Date lastModified', 'PUT', { ifUnmodifiedSince: EQ }, CUR_DATE, go],
  ['IUS after', 'PUT', { ifUnmodifiedSince: AFTER }, CUR, go],
  ['IUS before', 'PUT', { ifUnmodifiedSince: BEFORE }, CUR, pfIUS],
  ['IUS before (RFC 850)', 'DELETE', { ifUnmodifiedSince: BEFORE_850 }, CUR, pfIUS],
  ['IUS before (asctime)', 'PATCH', { ifUnmodifiedSince: BEFORE_ASC }, CUR, pfIUS],
  ['IUS equal (RFC 850)', 'PUT', { ifUnmodifiedSince: EQ_850 }, CUR, go],
  ['IUS equal (asctime)', 'PUT', { ifUnmodifiedSince: EQ_ASC }, CUR, go],
  ['IUS before on GET', 'GET', { ifUnmodifiedSince: BEFORE }, CUR, pfIUS],
  ['IUS invalid date ignored', 'PUT', { ifUnmodifiedSince: BAD_DATE }, CUR, go],
  ['IUS garbage ignored', 'PUT', { ifUnmodifiedSince: 'yesterday' }, CUR, go],
  ['IUS two lines ignored', 'PUT', { ifUnmodifiedSince: [BEFORE, BEFORE] }, CUR, go],
  ['IUS one line in an array', 'PUT', { ifUnmodifiedSince: [BEFORE] }, CUR, pfIUS],
  ['IUS without Last-Modified ignored', 'PUT', { ifUnmodifiedSince: BEFORE }, NO_LM, go],
  ['IUS on an absent resource ignored', 'PUT', { ifUnmodifiedSince: BEFORE }, NONE, go],
  [
    'IUS ignored when If-Match present',
    'PUT',
    { ifMatch: '"v2"', ifUnmodifiedSince: BEFORE },
    CUR,
    go,
  ],
  ['IUS ignored when If-Match *', 'PUT', { ifMatch: '*', ifUnmodifiedSince: BEFORE }, CUR, go],
  ['If-Match fails first', 'PUT', { ifMatch: '"v1"', ifUnmodifiedSince: AFTER }, CUR, pfIM],

  // --- If-None-Match (13.1.2): weak comparison, selected representation only
  ['INM same, GET', 'GET', { ifNoneMatch: '"v2"' }, CUR, nmINM],
  ['INM same, HEAD', 'HEAD', { ifNoneMatch: '"v2"' }, CUR, nmINM],
  ['INM weak tag matches weakly', 'GET', { ifNoneMatch: 'W/"v2"' }, CUR, nmINM],
  ['INM strong tag vs weak current', 'GET', { ifNoneMatch: '"v2"' }, WEAK, nmINM],
  ['INM other', 'GET', { ifNoneMatch: '"v1"' }, CUR, go],
  ['INM list with a match', 'GET', { ifNoneMatch: '"a", W/"v2", "b"' }, CUR, nmINM],
  ['INM list without match', 'GET', { ifNoneMatch: '"a", "b"' }, CUR, go],
  ['INM several lines', 'GET', { ifNoneMatch: ['"a"', 'W/"v2"'] }, CUR, nmINM],
  ['INM empty elements', 'GET', { ifNoneMatch: ' , "v2" ,' }, CUR, nmINM],
  [
    'INM alternate coding tag is not the selected one',
    'GET',
    { ifNoneMatch: '"v2.gzip"' },
    CUR,
    go,
  ],
  ['INM * exists, GET', 'GET', { ifNoneMatch: '*' }, CUR, nmINM],
  ['INM * absent, GET', 'GET', { ifNoneMatch: '*' }, NONE, go],
  ['INM tag absent, GET', 'GET', { ifNoneMatch: '"v2"' }, NONE, go],
  ['INM * exists, PUT (create-only)', 'PUT', { ifNoneMatch: '*' }, CUR, pfINM],
  ['INM * absent, PUT (create)', 'PUT', { ifNoneMatch: '*' }, NONE, go],
  ['INM match on PUT', 'PUT', { ifNoneMatch: '"v2"' }, CUR, pfINM],
  ['INM weak match on DELETE', 'DELETE', { ifNoneMatch: 'W/"v2"' }, CUR, pfINM],
  ['INM match on POST', 'POST', { ifNoneMatch: '"v2"' }, CUR, pfINM],
  ['INM no match on PATCH', 'PATCH', { ifNoneMatch: '"v1"' }, CUR, go],
  ['INM match on lower-case get is a write', 'get', { ifNoneMatch: '"v2"' }, CUR, pfINM],
  ['INM malformed, GET ignored', 'GET', { ifNoneMatch: 'v2' }, CUR, go],
  ['INM malformed, HEAD ignored', 'HEAD', { ifNoneMatch: '*, "v2"' }, CUR, go],
  ['INM malformed, PUT fails closed', 'PUT', { ifNoneMatch: '* junk' }, NONE, pfINMBad],
  ['INM malformed, DELETE fails closed', 'DELETE', { ifNoneMatch: '"v1' }, CUR, pfINMBad],
  ['INM empty, PUT fails closed', 'PUT', { ifNoneMatch: '' }, NONE, pfINMBad],
  ['If-Match passes then INM 304', 'GET', { ifMatch: '"v2"', ifNoneMatch: '"v2"' }, CUR, nmINM],
  ['If-Match fails before INM', 'PUT', { ifMatch: '"v1"', ifNoneMatch: '*' }, NONE, pfIM],
  ['IUS fails before INM', 'GET', { ifUnmodifiedSince: BEFORE, ifNoneMatch: '"v2"' }, CUR, pfIUS],

  // --- If-Modified-Since (13.1.3)
  ['IMS equal', 'GET', { ifModifiedSince: EQ }, CUR, nmIMS],
  ['IMS equal, Date lastModified', 'GET', { ifModifiedSince: EQ }, CUR_DATE, nmIMS],
  ['IMS equal, HEAD', 'HEAD', { ifModifiedSince: EQ }, CUR, nmIMS],
  ['IMS after', 'GET', { ifModifiedSince: AFTER }, CUR, nmIMS],
  ['IMS before', 'GET', { ifModifiedSince: BEFORE }, CUR, go],
  ['IMS equal (RFC 850)', 'GET', { ifModifiedSince: EQ_850 }, CUR, nmIMS],
  ['IMS equal (asctime)', 'GET', { ifModifiedSince: EQ_ASC }, CUR, nmIMS],
  ['IMS before (RFC 850)', 'GET', { ifModifiedSince: BEFORE_850 }, CUR, go],
  ['IMS invalid ignored', 'GET', { ifModifiedSince: BAD_DATE }, CUR, go],
  ['IMS two lines ignored', 'GET', { ifModifiedSince: [EQ, EQ] }, CUR, go],
  ['IMS comma-joined by fetch ignored', 'GET', { ifModifiedSince: `${EQ}, ${EQ}` }, CUR, go],
  ['IMS without Last-Modified', 'GET', { ifModifiedSince: AFTER }, NO_LM, go],
  ['IMS absent resource', 'GET', { ifModifiedSince: AFTER }, NONE, go],
  ['IMS ignored on PUT', 'PUT', { ifModifiedSince: AFTER }, CUR, go],
  ['IMS ignored on DELETE', 'DELETE', { ifModifiedSince: AFTER }, CUR, go],
  ['IMS ignored on POST', 'POST', { ifModifiedSince: AFTER }, CUR, go],
  ['IMS ignored when INM present', 'GET', { ifNoneMatch: '"v1"', ifModifiedSince: AFTER }, CUR, go],
  [
    'IMS ignored when INM malformed',
    'GET',
    { ifNoneMatch: 'junk', ifModifiedSince: AFTER },
    CUR,
    go,
  ],
  ['INM decides over IMS', 'GET', { ifNoneMatch: '"v2"', ifModifiedSince: BEFORE }, CUR, nmINM],

  // --- Range / If-Range (13.1.5)
  ['Range alone', 'GET', { range: 'bytes=0-9' }, CUR, goRange],
  ['Range on HEAD is not served', 'HEAD', { range: 'bytes=0-9' }, CUR, go],
  ['Range on PUT is not served', 'PUT', { range: 'bytes=0-9' }, CUR, go],
  ['If-Range alone is nothing', 'GET', { ifRange: '"v2"' }, CUR, go],
  ['If-Range strong match', 'GET', { range: 'bytes=0-9', ifRange: '"v2"' }, CUR, goRange],
  ['If-Range other tag', 'GET', { range: 'bytes=0-9', ifRange: '"v1"' }, CUR, go],
  ['If-Range weak tag', 'GET', { range: 'bytes=0-9', ifRange: 'W/"v2"' }, CUR, go],
  ['If-Range vs weak current', 'GET', { range: 'bytes=0-9', ifRange: '"v2"' }, WEAK, go],
  ['If-Range alternate tag', 'GET', { range: 'bytes=0-9', ifRange: '"v2.gzip"' }, CUR, go],
  ['If-Range date equal', 'GET', { range: 'bytes=0-9', ifRange: EQ }, CUR, goRange],
  ['If-Range date before', 'GET', { range: 'bytes=0-9', ifRange: BEFORE }, CUR, go],
  ['If-Range date after', 'GET', { range: 'bytes=0-9', ifRange: AFTER }, CUR, go],
  ['If-Range malformed', 'GET', { range: 'bytes=0-9', ifRange: 'soon' }, CUR, go],
  ['If-Range several lines', 'GET', { range: 'bytes=0-9', ifRange: ['"v2"', '"v2"'] }, CUR, go],
  ['Range with 304 first', 'GET', { range: 'bytes=0-9', ifNoneMatch: '"v2"' }, CUR, nmINM],
  ['Range after INM miss', 'GET', { range: 'bytes=0-9', ifNoneMatch: '"v1"' }, CUR, goRange],
];

describe('evaluatePreconditions (RFC 9110 13.2.2)', () => {
  it.each(rows)('%s: %s', (_name, method, headers, current, expected) => {
    expect(evaluatePreconditions(method, headers, current)).toEqual(expected);
  });
});

describe('evaluateIfRange', () => {
  const rows: Array<[string | string[] | undefined, Validators, boolean]> = [
    ['"v2"', CUR, true],
    [' "v2" ', CUR, true],
    [['"v2"'], CUR, true],
    ['"v1"', CUR, false],
    ['W/"v2"', CUR, false],
    ['"v2"', WEAK, false],
    ['"v2"', NONE, false],
    ['"v2"', { exists: true }, false],
    [EQ, CUR, true],
    [EQ_850, CUR, true],
    [EQ_ASC, CUR, true],
    [EQ, CUR_DATE, true],
    [BEFORE, CUR, false],
    [AFTER, CUR, false],
    [EQ, NO_LM, false],
    [EQ, NONE, false],
    [BAD_DATE, CUR, false],
    ['', CUR, false],
    ['"v2", "v2"', CUR, false],
    [undefined, CUR, false],
    [[], CUR, false],
  ];
  it.each(rows)('%j -> %s', (value, current, expected) => {
    expect(evaluateIfRange(value, current)).toBe(expected);
  });
});

describe('the exported checks agree with evaluatePreconditions', () => {
  const list = (value: string) => {
    const parsed = parseEntityTagList(value);
    if (parsed === undefined) throw new Error('absent');
    return parsed;
  };

  it('checkIfNoneMatch: a malformed list is not evaluated (never "a tag matched")', () => {
    // false would mean "matched": a caller answering 304 on false would 304 junk.
    for (const junk of ['v2', '"v2', '*, "v2"', '', ' , ']) {
      expect(checkIfNoneMatch(list(junk), CUR)).toBeUndefined();
      expect(checkIfNoneMatch(list(junk), NONE)).toBeUndefined();
    }
    expect(checkIfNoneMatch(list('"v2"'), CUR)).toBe(false);
    expect(checkIfNoneMatch(list('W/"v2"'), CUR)).toBe(false);
    expect(checkIfNoneMatch(list('"v1"'), CUR)).toBe(true);
    expect(checkIfNoneMatch(list('*'), CUR)).toBe(false);
    expect(checkIfNoneMatch(list('*'), NONE)).toBe(true);
  });

  it('a GET built from the exported checks answers as evaluatePreconditions does', () => {
    // The documented way to use a check: === false is the only "304" result.
    const viaChecks = (value: string) => (checkIfNoneMatch(list(value), CUR) === false ? 304 : 200);
    const viaEvaluate = (value: string) => {
      const e = evaluatePreconditions('GET', { ifNoneMatch: value }, CUR);
      return e.status === 304 ? 304 : 200;
    };
    for (const value of ['v2', '"v2', '"v2" junk', '"v1"', '"v2"', 'W/"v2"', '*', '"v1", "v2"']) {
      expect(viaChecks(value), value).toBe(viaEvaluate(value));
    }
    expect(viaChecks('junk')).toBe(200);
  });

  it('checkIfMatch: a malformed list stays false (fail closed on any method)', () => {
    expect(checkIfMatch(list('v2'), CUR)).toBe(false);
    expect(checkIfMatch(list('"v2"'), CUR)).toBe(true);
  });
});
