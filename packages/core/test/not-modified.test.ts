import { isNotModifiedHeader, notModifiedHeaders } from '@ifmatch/core';
import { describe, expect, it } from 'vitest';

describe('isNotModifiedHeader (RFC 9110 15.4.5)', () => {
  const rows: Array<[string, boolean, boolean]> = [
    // required by 15.4.5
    ['ETag', true, true],
    ['Date', true, true],
    ['Vary', true, true],
    ['Cache-Control', true, true],
    ['Expires', true, true],
    ['Content-Location', true, true],
    // not representation metadata: kept
    ['Access-Control-Allow-Origin', true, true],
    ['Access-Control-Expose-Headers', true, true],
    ['X-Request-Id', true, true],
    ['Set-Cookie', true, true],
    ['Server', true, true],
    // describe a body the 304 does not have
    ['Content-Type', true, false],
    ['content-length', true, false],
    ['Content-Encoding', true, false],
    ['Content-Language', true, false],
    ['Content-Range', true, false],
    ['Transfer-Encoding', true, false],
    ['Accept-Ranges', true, false],
    ['Content-Digest', true, false],
    ['CONTENT-TYPE', false, false],
    // Last-Modified only without an ETag
    ['Last-Modified', true, false],
    ['Last-Modified', false, true],
  ];
  it.each(rows)('%s (ETag present: %s) -> %s', (name, hasETag, kept) => {
    expect(isNotModifiedHeader(name, hasETag)).toBe(kept);
  });
});

describe('notModifiedHeaders', () => {
  const full = () =>
    new Headers([
      ['Content-Type', 'application/json'],
      ['Content-Length', '1234'],
      ['Content-Encoding', 'gzip'],
      ['Accept-Ranges', 'bytes'],
      ['ETag', '"v2.gzip"'],
      ['Last-Modified', 'Mon, 01 Jan 2024 12:00:00 GMT'],
      ['Cache-Control', 'no-cache'],
      ['Vary', 'Accept-Encoding'],
      ['Date', 'Mon, 01 Jan 2024 12:00:05 GMT'],
      ['Access-Control-Allow-Origin', 'https://app.example'],
      ['Access-Control-Expose-Headers', 'ETag, Last-Modified'],
      ['X-Request-Id', 'r-1'],
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2; Path=/'],
    ]);

  it('keeps what a 304 needs and drops body metadata', () => {
    const input = full();
    const out = notModifiedHeaders(input);
    const names: string[] = [];
    out.forEach((_v, k) => {
      names.push(k);
    });
    expect(names.sort()).toEqual(
      [
        'access-control-allow-origin',
        'access-control-expose-headers',
        'cache-control',
        'date',
        'etag',
        'set-cookie',
        'set-cookie',
        'vary',
        'x-request-id',
      ].sort(),
    );
    expect(out.get('etag')).toBe('"v2.gzip"');
    expect(out.get('vary')).toBe('Accept-Encoding');
    expect(out.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    // the input is left alone
    expect(input.get('content-type')).toBe('application/json');
  });

  it('keeps Last-Modified when there is no ETag', () => {
    const input = full();
    input.delete('etag');
    const out = notModifiedHeaders(input);
    expect(out.get('last-modified')).toBe('Mon, 01 Jan 2024 12:00:00 GMT');
    expect(out.has('content-length')).toBe(false);
  });

  it('works on an empty Headers', () => {
    expect([...notModifiedHeaders(new Headers()).keys()]).toEqual([]);
  });
});
