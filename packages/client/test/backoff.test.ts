import {
  BackoffSchedule,
  backoffBase,
  backoffCeiling,
  backoffDelay,
  HttpError,
  RoundTripEstimator,
  sleep,
} from '@ifmatch/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { retryAfterMs } from '../src/live.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('capped exponential backoff with full jitter', () => {
  it('ceiling doubles from base and stops at cap', () => {
    const o = { base: 10, cap: 300 };
    expect([0, 1, 2, 3, 4, 5, 6, 60, 5000].map((n) => backoffCeiling(n, o))).toEqual([
      10, 20, 40, 80, 160, 300, 300, 300, 300,
    ]);
  });

  it('a delay is anywhere in [0, ceiling): full jitter, not ceiling/2 + jitter', () => {
    expect(backoffDelay(3, { base: 10, cap: 1000, random: () => 0 })).toBe(0);
    expect(backoffDelay(3, { base: 10, cap: 1000, random: () => 0.5 })).toBe(40);
    const top = backoffDelay(3, { base: 10, cap: 1000, random: () => 0.999999 });
    expect(top).toBeLessThan(80);
    expect(top).toBeGreaterThan(79.99);
    for (let retry = 0; retry < 40; retry++) {
      const d = backoffDelay(retry, { base: 5, cap: 200 });
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(backoffCeiling(retry, { base: 5, cap: 200 }));
    }
  });

  it('sleep waits exactly its delay (fake timers)', async () => {
    vi.useFakeTimers();
    let done = false;
    const p = sleep(backoffDelay(2, { base: 10, cap: 1000, random: () => 0.75 })).then(() => {
      done = true;
    }); // 30 ms
    await vi.advanceTimersByTimeAsync(29);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    await p;
  });

  it('abort ends a sleep at once with the abort reason', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const p = sleep(60_000, controller.signal);
    await vi.advanceTimersByTimeAsync(10);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0); // the timer was cleared, nothing left pending
    await expect(sleep(5, controller.signal)).rejects.toBe(reason); // already aborted
  });
});

describe("base 'auto': sleeps in units of the write round trip", () => {
  it('the base is twice the smoothed round trip, within [1 ms, cap]; a number is used as given', () => {
    expect(backoffBase({}, 3)).toBe(6); // 'auto' is the default
    expect(backoffBase({ base: 'auto' }, 40)).toBe(80);
    expect(backoffBase({ base: 'auto' }, 0.1)).toBe(1); // timers are not finer than 1 ms
    expect(backoffBase({ base: 'auto', cap: 50 }, 400)).toBe(50);
    expect(backoffBase({ base: 'auto' })).toBe(10); // nothing measured yet
    expect(backoffBase({ base: 7 }, 400)).toBe(7);
    expect([0, 1, 2, 3].map((n) => backoffCeiling(n, { cap: 100 }, 5))).toEqual([10, 20, 40, 80]);
    expect(backoffDelay(2, { random: () => 0.5 }, 2)).toBe(8);
  });

  it('the round trip is smoothed per origin like RFC 6298 SRTT (1/8 of each new sample)', () => {
    const rtt = new RoundTripEstimator();
    expect(rtt.get('http://a')).toBeUndefined();
    rtt.sample('http://a', 16);
    expect(rtt.get('http://a')).toBe(16);
    rtt.sample('http://a', 8);
    expect(rtt.get('http://a')).toBe(15);
    rtt.sample('http://a', Number.NaN);
    rtt.sample('http://a', -1);
    expect(rtt.get('http://a')).toBe(15); // nonsense samples are ignored
    rtt.sample('http://b', 100);
    expect(rtt.get('http://b')).toBe(100);
    expect(rtt.get('http://a')).toBe(15);
  });
});

describe('BackoffSchedule', () => {
  it('full jitter: ceilings double from the level it starts at; sleeps counts this call only', () => {
    const top = { base: 10, cap: 10_000, random: () => 0.999999 };
    const fresh = new BackoffSchedule(top);
    expect([fresh.next(), fresh.next(), fresh.next()].map(Math.round)).toEqual([10, 20, 40]);
    expect(fresh.sleeps).toBe(3);
    expect(fresh.level).toBe(3);
    const carried = new BackoffSchedule(top, 3);
    expect(carried.sleeps).toBe(0);
    expect([carried.next(), carried.next()].map(Math.round)).toEqual([80, 160]);
    expect(carried.sleeps).toBe(2);
    expect(new BackoffSchedule(top, -1).level).toBe(0);
  });

  it('the round trip is read at every sleep: the unit follows a server that slows down', () => {
    const s = new BackoffSchedule({ random: () => 0.999999 });
    expect(Math.round(s.next(1))).toBe(2); // 2 x 1 ms
    expect(Math.round(s.next(20))).toBe(80); // 2 x 20 ms, second doubling
  });

  it('decorrelated jitter: each sleep in [base, 3 x previous], capped', () => {
    const high = new BackoffSchedule({
      base: 10,
      cap: 500,
      jitter: 'decorrelated',
      random: () => 1,
    });
    expect([1, 2, 3, 4, 5].map(() => high.next())).toEqual([10, 30, 90, 270, 500]);
    const low = new BackoffSchedule({
      base: 10,
      cap: 500,
      jitter: 'decorrelated',
      random: () => 0,
    });
    expect([1, 2, 3].map(() => low.next())).toEqual([10, 10, 10]); // never below base
    const any = new BackoffSchedule({ base: 4, cap: 300, jitter: 'decorrelated' });
    let previous = 4;
    for (let i = 0; i < 50; i++) {
      const d = any.next();
      expect(d).toBeGreaterThanOrEqual(4);
      expect(d).toBeLessThanOrEqual(Math.min(300, 3 * previous));
      previous = d;
    }
  });
});

describe('retryAfterMs (live iterators)', () => {
  const failure = (value: string | undefined) =>
    new HttpError(
      'GET',
      'http://x/',
      503,
      {},
      new Headers(value === undefined ? {} : { 'retry-after': value }),
    );
  const now = Date.parse('Thu, 03 Dec 2026 12:00:00 GMT');
  it.each([
    ['120', 120_000],
    ['0', 0],
    ['Thu, 03 Dec 2026 12:00:30 GMT', 30_000],
    ['Thu, 03 Dec 2026 11:00:00 GMT', 0], // a date in the past: no extra wait
    ['99999', 600_000], // capped at 10 minutes
    ['soon', undefined],
    ['-5', undefined],
    [undefined, undefined],
  ])('Retry-After %s -> %s ms', (value, ms) => {
    expect(retryAfterMs(failure(value), now)).toBe(ms);
  });
  it('only an HTTP answer has one', () => {
    expect(retryAfterMs(new TypeError('fetch failed'), now)).toBeUndefined();
  });
});
