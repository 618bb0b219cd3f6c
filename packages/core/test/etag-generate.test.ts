import {
  baseETag,
  bytesETag,
  canonicalJson,
  codingETag,
  hashBytes,
  jsonETag,
  parseEntityTag,
  versionETag,
  weakETag,
} from '@ifmatch/core';
import { describe, expect, it } from 'vitest';

const B64URL_11 = /^[A-Za-z0-9_-]{11}$/;

describe('hashBytes', () => {
  it('is 11 base64url characters and deterministic', () => {
    for (const input of ['', 'a', 'hello', 'x'.repeat(1000)]) {
      expect(hashBytes(input)).toMatch(B64URL_11);
      expect(hashBytes(input)).toBe(hashBytes(input));
    }
  });

  it('is stable across versions and hosts (two instances must agree on ETags)', () => {
    // Pinned: changing the hash would change every stored ETag.
    expect(hashBytes('')).toBe('FeXkWibyZwY');
    expect(hashBytes('hello')).toBe('QN-d6imiqBI');
  });

  it('hashes strings as UTF-8', () => {
    const text = 'h\u00e9llo \u20ac \u{1F600}';
    expect(hashBytes(text)).toBe(hashBytes(new TextEncoder().encode(text)));
    expect(hashBytes('\u00e9')).not.toBe(hashBytes(new Uint8Array([0xe9])));
  });

  it('distinguishes every single byte and every short zero run (tail handling, length)', () => {
    const seen = new Set<string>();
    for (let b = 0; b < 256; b++) seen.add(hashBytes(new Uint8Array([b])));
    for (let n = 0; n <= 16; n++) seen.add(hashBytes(new Uint8Array(n)));
    expect(seen.size).toBe(256 + 17 - 1); // [0] is both a byte and the 1-long zero run
  });

  it('changes when any single bit of a 67-byte input flips', () => {
    const base = new Uint8Array(67).map((_, i) => (i * 37) & 255);
    const seen = new Set([hashBytes(base)]);
    for (let i = 0; i < base.length * 8; i++) {
      const copy = base.slice();
      copy[i >> 3]! ^= 1 << (i & 7);
      seen.add(hashBytes(copy));
    }
    expect(seen.size).toBe(67 * 8 + 1);
  });

  it('hashes a view by its bytes, whatever its offset in the buffer', () => {
    const backing = new Uint8Array(64).map((_, i) => i);
    for (let offset = 0; offset < 5; offset++) {
      const view = backing.subarray(offset, offset + 37);
      expect(hashBytes(view)).toBe(hashBytes(view.slice()));
    }
  });

  it('has no collisions among 100k short distinct strings', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(hashBytes(`doc-${i}`));
    expect(seen.size).toBe(100_000);
  });

  it('hashes 1 MB inputs, and one changed byte changes the hash', () => {
    const big = new Uint8Array(1 << 20).map((_, i) => i & 255);
    const h = hashBytes(big);
    big[500_000] = big[500_000]! ^ 1;
    expect(hashBytes(big)).not.toBe(h);
    expect(hashBytes(big.subarray(0, big.length - 1))).not.toBe(hashBytes(big));
  });
});

describe('versionETag', () => {
  it.each([
    [0, undefined, '"0"'],
    [35, undefined, '"z"'],
    [36, 'abc', '"10-abc"'],
    [123456789n, 'h', '"21i3v9-h"'],
    ['v7', undefined, '"v7"'],
    ['2024.1', 'x_y', '"2024.1-x_y"'],
  ] as const)('%s + %s -> %s', (version, hash, expected) => {
    const tag = versionETag(version, hash);
    expect(tag).toBe(expected);
    expect(parseEntityTag(tag)?.weak).toBe(false);
  });
  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -1n, '', 'a b', 'a"b'])(
    'rejects version %s',
    (version) => {
      expect(() => versionETag(version as number)).toThrow();
    },
  );
  it('rejects a hash with non-etagc characters', () => {
    expect(() => versionETag(1, 'a"b')).toThrow(TypeError);
  });
});

describe('bytesETag / jsonETag / weakETag', () => {
  it('bytesETag is "<length36>-<hash>" and honors weak', () => {
    expect(bytesETag('hello')).toBe(`"5-${hashBytes('hello')}"`);
    expect(bytesETag(new Uint8Array(36))).toBe(`"10-${hashBytes(new Uint8Array(36))}"`);
    expect(bytesETag('hello', { weak: true })).toBe(`W/"5-${hashBytes('hello')}"`);
    expect(bytesETag('\u20ac')).toMatch(/^"3-/); // UTF-8 length
  });
  it('jsonETag ignores key order and whitespace, not values', () => {
    expect(jsonETag({ a: 1, b: [1, 2] })).toBe(jsonETag(JSON.parse('{ "b": [1, 2.0], "a": 1 }')));
    expect(jsonETag({ a: 1 })).not.toBe(jsonETag({ a: 2 }));
    expect(jsonETag([1, 2])).not.toBe(jsonETag([2, 1]));
    expect(jsonETag({ a: 1 })).toBe(bytesETag('{"a":1}'));
    expect(jsonETag({ a: 1 }, { weak: true })).toBe(weakETag(jsonETag({ a: 1 })));
  });
  it('weakETag', () => {
    expect(weakETag('"abc"')).toBe('W/"abc"');
    expect(weakETag('W/"abc"')).toBe('W/"abc"');
    expect(() => weakETag('abc')).toThrow(TypeError);
  });
});

describe('codingETag / baseETag', () => {
  it.each([
    ['"abc"', 'gzip', '"abc.gzip"'],
    ['"abc"', 'br', '"abc.br"'],
    ['"abc"', 'GZIP', '"abc.gzip"'],
    ['W/"abc"', 'gzip', 'W/"abc.gzip"'],
    ['"abc"', 'identity', '"abc"'],
    ['"abc"', 'Identity', '"abc"'],
  ])('%s + %s -> %s', (etag, coding, expected) => {
    expect(codingETag(etag, coding)).toBe(expected);
    expect(baseETag(expected, coding)).toBe(etag);
  });
  it('every coding gets a distinct strong tag', () => {
    const tags = ['identity', 'gzip', 'br', 'deflate', 'zstd'].map((c) => codingETag('"v1"', c));
    expect(new Set(tags).size).toBe(5);
    for (const t of tags) expect(parseEntityTag(t)?.weak).toBe(false);
  });
  it('rejects bad input', () => {
    expect(() => codingETag('abc', 'gzip')).toThrow(TypeError);
    expect(() => codingETag('"abc"', 'gz ip')).toThrow(TypeError);
    expect(() => codingETag('"abc"', '')).toThrow(TypeError);
  });
  it('baseETag is undefined for another coding or a bare tag', () => {
    expect(baseETag('"abc.gzip"', 'br')).toBeUndefined();
    expect(baseETag('"abc"', 'gzip')).toBeUndefined();
    expect(baseETag('".gzip"', 'gzip')).toBeUndefined();
    expect(baseETag('nope', 'gzip')).toBeUndefined();
  });
});

// RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
function fromHex(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('canonicalJson (RFC 8785)', () => {
  it.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ])('number %s -> %s', (hex, text) => {
    expect(canonicalJson(fromHex(hex))).toBe(text);
  });

  it.each(['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000'])(
    'number %s (NaN/Infinity) is rejected',
    (hex) => {
      expect(() => canonicalJson(fromHex(hex))).toThrow(TypeError);
    },
  );

  it('serializes the example of RFC 8785 3.2.2', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units (RFC 8785 3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\u{1F600}': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Compare the text itself: Object.keys would list the integer-like "1" first.
    const names = [...canonicalJson(input).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) =>
      JSON.parse(`"${m[1]}"`),
    );
    expect(names).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\u{1F600}', '\ufb33']);
    expect(canonicalJson(input).startsWith('{"\\r":"Carriage Return","1":"One"')).toBe(true);
  });

  it.each([
    [{ b: { d: 1, c: [] }, a: '' }, '{"a":"","b":{"c":[],"d":1}}'],
    [[], '[]'],
    [{}, '{}'],
    ['\u2028\ud800', '"\u2028\\ud800"'],
    [-0, '0'],
    [new Date(0), '"1970-01-01T00:00:00.000Z"'],
    [[{ z: null, y: false }], '[{"y":false,"z":null}]'],
  ])('%j -> %s', (value, text) => {
    expect(canonicalJson(value)).toBe(text);
  });

  it.each([
    ['undefined', undefined],
    ['a function', () => 1],
    ['a bigint', 1n],
    ['a symbol', Symbol('x')],
    ['undefined in an object', { a: undefined }],
    ['undefined in an array', [undefined]],
    ['NaN nested', { a: [Number.NaN] }],
  ])('rejects %s', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });

  it('rejects circular structures', () => {
    const a: Record<string, unknown> = {};
    a['self'] = a;
    expect(() => canonicalJson(a)).toThrow(TypeError);
    const shared = { x: 1 };
    expect(canonicalJson([shared, shared])).toBe('[{"x":1},{"x":1}]'); // shared is not circular
  });
});
