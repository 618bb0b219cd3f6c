// RFC 7240 Prefer (src/http/prefer.ts): the wait preference and return.
import { describe, expect, it } from 'vitest';
import { returnPreference, waitPreference } from '../../src/http/prefer.js';

describe('waitPreference', () => {
  it.each([
    ['wait=10', 10],
    ['wait=0', 0],
    ['WAIT=5', 5],
    ['wait = 7', 7],
    ['wait="8"', 8],
    ['respond-async, wait=100', 100],
    ['wait=3; foo=bar', 3],
    ['return=minimal,wait=2', 2],
    [['handling=lenient', 'wait=4'], 4],
    ['wait=99999999', 99999999],
    ['wait=99999999999999999999', 2 ** 31 - 1],
    // Only the first instance counts (RFC 7240 2), junk or not.
    ['wait=1, wait=2', 1],
    ['wait=junk, wait=2', undefined],
  ] as const)('%j -> %j', (value, expected) => {
    expect(waitPreference(value as string | string[])).toBe(expected);
  });

  it.each([
    undefined,
    '',
    'wait',
    'wait=',
    'wait=-1',
    'wait=1.5',
    'wait=1e3',
    'wait=junk',
    'wait=+5',
    'wait=0x10',
    'waiting=5',
    'respond-async',
    ',;=,',
  ])('%j is no wait (ignored, never an error)', (value) => {
    expect(waitPreference(value)).toBeUndefined();
  });
});

describe('returnPreference', () => {
  it.each([
    ['return=minimal', 'minimal'],
    ['return=representation', 'representation'],
    ['RETURN="Minimal"', 'minimal'],
    ['wait=5, return=minimal', 'minimal'],
    ['return=junk', undefined],
    ['return', undefined],
    [undefined, undefined],
  ] as const)('%j -> %j', (value, expected) => {
    expect(returnPreference(value)).toBe(expected);
  });
});
