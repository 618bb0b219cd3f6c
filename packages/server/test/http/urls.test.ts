// The URL grammar (src/http/urls.ts): one canonical spelling per resource.
import { describe, expect, it } from 'vitest';
import { canonicalTarget, isValidSegment, matchDocumentPath } from '../../src/http/urls.js';

describe('canonicalTarget', () => {
  it.each([
    // already canonical: unchanged
    ['/', '/'],
    ['/api/notes/1', '/api/notes/1'],
    ['/api/notes/1?x=%2F&y', '/api/notes/1?x=%2F&y'],
    ['/api/notes/', '/api/notes/'],
    ['/api/n.x/.hidden', '/api/n.x/.hidden'],
    ['*', '*'],
    // escapes of characters that need none are decoded (RFC 3986 6.2.2.2)
    ['/%61pi/notes/1', '/api/notes/1'],
    ['/a%70i/%73ecret/%7e', '/api/secret/~'],
    ['/%6Detrics', '/metrics'],
    ['/api/notes/a%2Db', '/api/notes/a-b'],
    // others are escaped, upper-case hex
    ['/api/notes/a%20b', '/api/notes/a%20b'],
    ['/api/notes/axb%3f', '/api/notes/axb%3F'],
    ['/api/notes/é', '/api/notes/%C3%A9'],
    ['/api/notes/%c3%a9', '/api/notes/%C3%A9'],
    // absolute-form: path and query of any http(s) URL
    ['http://x/api/secret/s', '/api/secret/s'],
    ['HTTPS://evil.example:8443/metrics?a=1', '/metrics?a=1'],
    ['http://x', '/'],
    ['http://x?q', '/?q'],
    ['http://user@[::1]/api/%61', '/api/a'],
  ])('%s -> %s', (raw, canonical) => {
    expect(canonicalTarget(raw)).toEqual({ url: canonical });
  });

  it.each([
    ['/metrics#frag', 'fragment'],
    ['/api/a?b#c', 'fragment'],
    ['/api//secret/s', 'empty segment'],
    ['//api/secret/s', 'empty segment'],
    ['/api/./secret', 'dot segment'],
    ['/api/x/../secret/s', 'dot segment'],
    ['/api/secret/..', 'dot segment'],
    ['/api/%2e%2e/x', 'dot segment'],
    ['/api/%2E/x', 'dot segment'],
    ['/api/secret%2Fs', 'escaped slash'],
    ['/api/secret%2fs', 'escaped slash'],
    ['/api/%zz', 'percent-encoding'],
    ['/api/%c3', 'percent-encoding'],
    ['ftp://x/api/secret/s', 'neither'],
    ['api/secret/s', 'neither'],
    ['', 'neither'],
  ])('%s is refused (%s)', (raw, why) => {
    const result = canonicalTarget(raw);
    expect('error' in result && result.error).toContain(why);
  });

  it('is idempotent: a canonical target stays as it is', () => {
    for (const raw of ['/%61pi/x%20y/%c3%a9', 'http://h/a/b?c', '/api/a;b/c:d@e']) {
      const once = canonicalTarget(raw);
      if (!('url' in once)) throw new Error(`refused ${raw}`);
      expect(canonicalTarget(once.url)).toEqual(once);
    }
  });
});

describe('segments and document paths', () => {
  it.each([
    ['notes', true],
    ['a.b~c_d-e', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    ['.', false],
    ['..', false],
    ['...', true],
    ['a/b', false],
    ['a b', false],
    ['é', false],
  ])('isValidSegment(%j) = %s', (segment, valid) => {
    expect(isValidSegment(segment)).toBe(valid);
  });

  it('matchDocumentPath takes exactly the canonical document paths', () => {
    expect(matchDocumentPath('/api/notes/1')).toEqual({ collection: 'notes', id: '1' });
    for (const path of ['/api/notes', '/api/notes/1/', '/api/../1', '/api/notes/..', '/API/n/1']) {
      expect(matchDocumentPath(path)).toBeUndefined();
    }
  });
});
