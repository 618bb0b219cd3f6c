import { formatHttpDate, parseHttpDate } from '@ifmatch/core';
import { describe, expect, it } from 'vitest';
import { toWholeSeconds } from '../src/http-date.js';

const T = Date.UTC(1994, 10, 6, 8, 49, 37); // Sun, 06 Nov 1994 08:49:37 GMT
const NOW = Date.UTC(2026, 0, 1);

describe('parseHttpDate', () => {
  const valid: Array<[string, number]> = [
    // the three forms of RFC 9110 5.6.7
    ['Sun, 06 Nov 1994 08:49:37 GMT', T],
    ['Sunday, 06-Nov-94 08:49:37 GMT', T],
    ['Sun Nov  6 08:49:37 1994', T],
    ['Sun Nov 06 08:49:37 1994', T], // asctime day as 2DIGIT
    // OWS around the value is not part of it
    [' Sun, 06 Nov 1994 08:49:37 GMT\t', T],
    // a wrong day name is tolerated (the date decides)
    ['Mon, 06 Nov 1994 08:49:37 GMT', T],
    ['Monday, 06-Nov-94 08:49:37 GMT', T],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['Thu, 29 Feb 2024 23:59:59 GMT', Date.UTC(2024, 1, 29, 23, 59, 59)],
    ['Fri, 31 Dec 9999 23:59:59 GMT', Date.UTC(9999, 11, 31, 23, 59, 59)],
    ['Mon, 01 Jan 0001 00:00:00 GMT', -62135596800000],
    // RFC 850 two-digit years, relative to NOW (2026): up to 2076 is future, beyond is the past century
    ['Thursday, 01-Jan-70 00:00:00 GMT', Date.UTC(2070, 0, 1)],
    ['Friday, 01-Jan-76 00:00:00 GMT', Date.UTC(2076, 0, 1)],
    ['Saturday, 01-Jan-77 00:00:00 GMT', Date.UTC(1977, 0, 1)],
    ['Sunday, 01-Jan-99 00:00:00 GMT', Date.UTC(1999, 0, 1)],
    ['Saturday, 01-Jan-00 00:00:00 GMT', Date.UTC(2000, 0, 1)],
    ['Thursday, 01-Jan-26 00:00:00 GMT', Date.UTC(2026, 0, 1)],
    [['Sun, 06 Nov 1994 08:49:37 GMT'] as unknown as string, T], // one field line
  ];
  it.each(valid)('%j', (text, ms) => {
    expect(parseHttpDate(text, NOW)).toBe(ms);
  });

  const invalid = [
    '',
    'now',
    '784111777',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 06 Nov 1994 08:49:37',
    'Sun, 6 Nov 1994 08:49:37 GMT',
    'Sun, 06 nov 1994 08:49:37 GMT', // case-sensitive
    'sun, 06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 08:49:37 gmt',
    'Sun,  06 Nov 1994 08:49:37 GMT',
    'Sun 06 Nov 1994 08:49:37 GMT',
    'Sunday, 06 Nov 1994 08:49:37 GMT', // long day name in IMF-fixdate
    'Sun, 06-Nov-94 08:49:37 GMT', // short day name in RFC 850
    'Sun, 06 Nov 94 08:49:37 GMT',
    'Xyz, 06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Foo 1994 08:49:37 GMT',
    'Sun, 30 Feb 2000 00:00:00 GMT', // impossible dates
    'Sun, 29 Feb 2023 00:00:00 GMT',
    'Sun, 31 Apr 2023 00:00:00 GMT',
    'Sun, 00 Nov 1994 08:49:37 GMT',
    'Sun, 32 Jan 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT',
    'Sun, 06 Nov 1994 08:60:00 GMT',
    'Sun, 06 Nov 1994 08:49:60 GMT',
    'Sun, 06 Nov 1994 8:49:37 GMT',
    'Sun, 06 Nov 1994 08:49:37 GMT junk',
    'Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT', // two lines joined by fetch
    'Sun Nov 6 08:49:37 1994',
    'Sun Nov  6 08:49:37 94',
    'Sunday, 06-Nov-1994 08:49:37 GMT',
    '2024-01-01T00:00:00Z',
    'Sun, 06 Nov 1994 08:49:37 GMT\n',
    'Sun, \uff10\uff16 Nov 1994 08:49:37 GMT', // full-width digits are not DIGIT
  ];
  it.each(invalid)('%j is invalid', (text) => {
    expect(parseHttpDate(text, NOW)).toBeUndefined();
  });

  it('several field lines are invalid', () => {
    const line = 'Sun, 06 Nov 1994 08:49:37 GMT';
    expect(parseHttpDate([line, line])).toBeUndefined();
    expect(parseHttpDate([])).toBeUndefined();
    expect(parseHttpDate(undefined)).toBeUndefined();
    expect(parseHttpDate(null)).toBeUndefined();
  });

  it('rejects an over-long value quickly', () => {
    expect(parseHttpDate(`${' '.repeat(100_000)}Sun, 06 Nov 1994 08:49:37 GMT`)).toBeUndefined();
  });
});

describe('formatHttpDate', () => {
  it.each([
    [T, 'Sun, 06 Nov 1994 08:49:37 GMT'],
    [T + 999, 'Sun, 06 Nov 1994 08:49:37 GMT'],
    [0, 'Thu, 01 Jan 1970 00:00:00 GMT'],
    [Date.UTC(2024, 1, 29, 1, 2, 3), 'Thu, 29 Feb 2024 01:02:03 GMT'],
    [-62135596800000, 'Mon, 01 Jan 0001 00:00:00 GMT'],
  ])('%d -> %s', (ms, text) => {
    expect(formatHttpDate(ms)).toBe(text);
    expect(formatHttpDate(new Date(ms))).toBe(text);
  });
  it('throws RangeError for times it cannot write', () => {
    expect(() => formatHttpDate(Number.NaN)).toThrow(RangeError);
    expect(() => formatHttpDate(Date.UTC(10000, 0, 1))).toThrow(RangeError);
  });
});

describe('toWholeSeconds', () => {
  it.each([
    [0, 0],
    [999, 0],
    [1000, 1000],
    [1999, 1000],
    [-1, -1000],
  ])('%d -> %d', (ms, out) => {
    expect(toWholeSeconds(ms)).toBe(out);
  });
});
