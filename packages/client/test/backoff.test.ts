import { backoffCeiling, backoffDelay, sleep } from '@ifmatch/client';
import { afterEach, describe, expect, it, vi } from 'vitest';

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
