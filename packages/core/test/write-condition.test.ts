import {
  type ConditionalHeaders,
  type Evaluation,
  InProcessLock,
  unconditionalWrite,
  type Validators,
  writeCondition,
} from '@ifmatch/core';
import { describe, expect, it } from 'vitest';
import { etagOf, tokenOf } from '../src/bindings/document-store.js';

const proceed: Evaluation = { status: 'proceed', range: false };
const current: Validators = { exists: true, etag: '"7"', lastModified: Date.UTC(2024, 0, 1) };
const absent: Validators = { exists: false };
const LM = 'Mon, 01 Jan 2024 00:00:00 GMT';

describe('writeCondition', () => {
  const rows: Array<[string, ConditionalHeaders, Validators, Evaluation | undefined, object]> = [
    [
      'If-Match with tags: the evaluated state',
      { ifMatch: '"x", "7"' },
      current,
      proceed,
      { kind: 'match', etag: '"7"' },
    ],
    ['If-Match: *', { ifMatch: '*' }, current, proceed, { kind: 'exists' }],
    [
      'If-None-Match: * (passed, so absent)',
      { ifNoneMatch: '*' },
      absent,
      proceed,
      { kind: 'absent' },
    ],
    [
      'If-None-Match tags on an existing target',
      { ifNoneMatch: '"old"' },
      current,
      proceed,
      { kind: 'match', etag: '"7"' },
    ],
    [
      'If-None-Match tags on an absent target',
      { ifNoneMatch: '"old"' },
      absent,
      proceed,
      { kind: 'absent' },
    ],
    [
      'If-Unmodified-Since alone',
      { ifUnmodifiedSince: LM },
      current,
      proceed,
      { kind: 'match', etag: '"7"' },
    ],
    [
      'If-Unmodified-Since invalid: ignored',
      { ifUnmodifiedSince: 'soon' },
      current,
      proceed,
      { kind: 'none' },
    ],
    ['no precondition', {}, current, proceed, { kind: 'none' }],
    [
      'not evaluated (absent target, 13.2.1)',
      { ifMatch: '"7"' },
      absent,
      undefined,
      { kind: 'absent' },
    ],
  ];
  it.each(rows)('%s', (_label, headers, validators, evaluation, expected) => {
    expect(writeCondition(headers, validators, evaluation)).toEqual(expected);
  });

  it('a precondition on validators without an ETag is refused (nothing to compare at commit)', () => {
    expect(() => writeCondition({ ifMatch: '*' }, { exists: true }, proceed)).not.toThrow();
    expect(() =>
      writeCondition({ ifUnmodifiedSince: LM }, { exists: true, lastModified: 0 }, proceed),
    ).toThrow(TypeError);
  });

  it('unconditionalWrite() is the only way to "none" outside an evaluation', () => {
    expect(unconditionalWrite()).toEqual({ kind: 'none' });
  });
});

describe('ETag <-> column token', () => {
  it.each([0, 1, 35, 36, 123456789])('version %d round-trips', (v) => {
    expect(tokenOf('version', etagOf('version', v))).toBe(v);
  });
  it('hash tokens round-trip; foreign and weak tags never map to a token', () => {
    expect(tokenOf('hash', etagOf('hash', 'AbC-_9'))).toBe('AbC-_9');
    for (const tag of ['W/"1"', '"01"', '"-1"', '1', '"1.5"'])
      expect(tokenOf('version', tag)).toBeUndefined();
    expect(tokenOf('hash', 'W/"abc"')).toBeUndefined();
  });
});

describe('InProcessLock', () => {
  it('serializes holders of one key, not of different keys, and forgets idle keys', async () => {
    const lock = new InProcessLock();
    const log: string[] = [];
    const hold = (key: string, name: string, ms: number) =>
      lock.run(key, async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}-`);
      });
    await Promise.all([hold('a', 'a1', 20), hold('a', 'a2', 1), hold('b', 'b1', 5)]);
    expect(log.indexOf('a1-')).toBeLessThan(log.indexOf('a2+'));
    expect(log.indexOf('b1+')).toBeLessThan(log.indexOf('a1-'));
    expect(lock.size).toBe(0);
  });

  it('a holder that throws releases the key', async () => {
    const lock = new InProcessLock();
    await expect(lock.run('k', () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await lock.run('k', () => 42)).toBe(42);
    expect(lock.size).toBe(0);
  });
});
