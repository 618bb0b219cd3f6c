// watch(): the iterator's decisions over real loopback HTTP, against a small
// server the test controls (helpers/live-server.ts) so every answer of the
// contract (304 after the wait, 200, 404, 5xx, a cut connection, a server
// that does not wait) can be made to happen when the test wants it.

import { HttpError, IfMatchClient } from '@ifmatch/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { activeTimers, delay, stepper } from './helpers/iterate.js';
import { type LiveServer, startLiveServer } from './helpers/live-server.js';

let server: LiveServer;
const fast = { base: 20, cap: 100 };

beforeEach(async () => {
  server = await startLiveServer();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await server.close();
});

describe('watch()', () => {
  it('yields the current version first, then a write made during the long-poll, with one request each', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const controller = new AbortController();
    const events = client.watch<{ v: number }>('/doc', { signal: controller.signal, wait: 20 });

    const first = await events.next();
    expect(first.value).toMatchObject({ deleted: false, value: { v: 0 }, etag: '"v0"' });
    expect(server.requests[0]!.headers.prefer).toBeUndefined(); // the first read does not wait

    const second = events.next();
    await server.waitForRequests(2);
    await delay(300); // the long-poll is being held
    expect(server.open).toBe(1);
    server.setDoc({ v: 1 });
    const got = await second;
    expect(got.value).toMatchObject({ deleted: false, value: { v: 1 }, etag: '"v1"' });

    const poll = server.requests[1]!;
    expect(poll.headers['if-none-match']).toBe('"v0"');
    expect(poll.headers.prefer).toBe('wait=20');
    expect(poll.status).toBe(200);
    expect(poll.preferenceApplied).toBe(true);
    expect(poll.heldMs).toBeGreaterThan(250); // held by the server, not polled
    expect(server.requests).toHaveLength(2);
    controller.abort();
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });

  it('a 304 after the wait yields nothing and parses nothing; the next poll goes at once', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const events = stepper((signal) => client.watch('/doc', { signal, wait: 1, backoff: fast }));
    expect(await events.within(5000)).toMatchObject({ done: false });

    const parse = vi.spyOn(JSON, 'parse');
    expect(await events.within(2600)).toBe('none');
    expect(parse).not.toHaveBeenCalled();
    const polls = server.requests.slice(1);
    // Two full waits of 1 s in 2.6 s: the loop follows the server's pace, not its own.
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.length).toBeLessThanOrEqual(3);
    for (const poll of polls) {
      expect(poll).toMatchObject({ status: 304, preferenceApplied: true });
      expect(poll.heldMs).toBeGreaterThan(900);
    }
    expect(await events.stop()).toEqual({ done: true, value: undefined });
  });

  it('yields a change once, even when the cache holds nothing (cacheBytes 0): If-None-Match names the version held', async () => {
    const client = new IfMatchClient({ baseUrl: server.url, cacheBytes: 0 });
    const events = stepper((signal) => client.watch<{ v: number }>('/doc', { signal, wait: 1 }));
    expect(await events.within(5000)).toMatchObject({ value: { etag: '"v0"' } });
    expect(await events.within(1300)).toBe('none');
    expect(server.requests[1]).toMatchObject({ status: 304, preferenceApplied: true });
    expect(server.requests[1]!.headers['if-none-match']).toBe('"v0"');
    server.setDoc({ v: 7 });
    expect(await events.within(3000)).toMatchObject({
      value: { deleted: false, value: { v: 7 } },
    });
    expect(await events.within(300)).toBe('none'); // once, not again
    await events.stop();
  });

  it('a deletion yields { deleted: true } once, then backoff-spaced polling until it exists again', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const events = stepper((signal) =>
      client.watch<{ v: number }>('/doc', {
        signal,
        wait: 10,
        backoff: { base: 50, cap: 200 },
      }),
    );
    await events.within(5000);
    const next = events.within(5000);
    await server.waitForRequests(2);
    server.setDoc(undefined);
    expect(await next).toEqual({ done: false, value: { deleted: true } });
    expect(server.requests[1]).toMatchObject({ status: 404, preferenceApplied: true });
    expect(client.cached('/doc')).toBeUndefined(); // the stale entry is gone

    const before = server.requests.length;
    expect(await events.within(1000)).toBe('none'); // no second "deleted"
    const polls = server.requests.slice(before);
    // Nothing to wait on: the server answers at once, so the client spaces the
    // requests (>= 50 ms each, up to 200): about 5-20 in a second, not thousands.
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(polls.length).toBeLessThanOrEqual(21);
    for (const poll of polls) {
      expect(poll.status).toBe(404);
      expect(poll.headers['if-none-match']).toBeUndefined();
    }
    server.setDoc({ v: 9 });
    expect(await events.within(2000)).toMatchObject({
      value: { deleted: false, value: { v: 9 } },
    });
    await events.stop();
  });

  it('a server that does not wait (no Preference-Applied) is polled with growing spacing, not hammered', async () => {
    server.honourWait = false;
    const client = new IfMatchClient({ baseUrl: server.url });
    const events = stepper((signal) =>
      client.watch('/doc', {
        signal,
        wait: 30,
        backoff: { base: 25, cap: 400 },
      }),
    );
    await events.within(5000);
    expect(await events.within(1500)).toBe('none');
    const polls = server.requests.slice(1);
    expect(polls.every((p) => p.status === 304 && !p.preferenceApplied && p.heldMs < 100)).toBe(
      true,
    );
    // Decorrelated backoff from 25 ms, capped at 400: well under 60 requests in 1.5 s.
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(polls.length).toBeLessThan(60);
    server.setDoc({ v: 2 });
    expect(await events.within(2000)).toMatchObject({ value: { value: { v: 2 } } });
    await events.stop();
  });

  it('5xx answers and cut connections are retried with backoff; the change arrives', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const events = stepper((signal) =>
      client.watch<{ v: number }>('/doc', {
        signal,
        wait: 5,
        backoff: { base: 30, cap: 60 },
      }),
    );
    server.failNext(2, 503);
    const first = await events.within(5000);
    expect(first).toMatchObject({ value: { value: { v: 0 } } });
    expect(server.requests.slice(0, 3).map((r) => r.status)).toEqual([503, 503, 200]);

    server.cutNext(2);
    server.setDoc({ v: 3 });
    const start = performance.now();
    expect(await events.within(5000)).toMatchObject({ value: { value: { v: 3 } } });
    expect(server.requests.slice(3).map((r) => r.status)).toEqual([0, 0, 200]);
    expect(performance.now() - start).toBeGreaterThanOrEqual(50); // two sleeps of >= 30 ms
    await events.stop();
  });

  it("a 503's Retry-After is honoured before the next try", async () => {
    server.failNext(1, 503, undefined, '1');
    const client = new IfMatchClient({ baseUrl: server.url });
    const controller = new AbortController();
    const events = client.watch('/doc', { signal: controller.signal, backoff: fast });
    expect(await events.next()).toMatchObject({ value: { etag: '"v0"' } });
    const [failed, retried] = server.requests;
    expect(failed!.status).toBe(503);
    expect(retried!.at - failed!.at).toBeGreaterThanOrEqual(950); // not the 20-100 ms backoff
    controller.abort();
  });

  it('another error status ends the iteration with the HttpError', async () => {
    server.failNext(1, 403);
    const client = new IfMatchClient({ baseUrl: server.url });
    const events = client.watch('/doc', { wait: 1 });
    const error = await events.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(403);
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });

  it('aborting ends the iteration at once (no throw) and cancels the held request', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const controller = new AbortController();
    const events = client.watch('/doc', { signal: controller.signal, wait: 30 });
    await events.next();
    const held = events.next();
    await server.waitForRequests(2);
    await delay(100);
    expect(server.open).toBe(1);
    const start = performance.now();
    controller.abort();
    expect(await held).toEqual({ done: true, value: undefined });
    expect(performance.now() - start).toBeLessThan(1000);
    await delay(100);
    expect(server.open).toBe(0); // the server saw the request go away
    expect(server.requests).toHaveLength(1); // the held request was never answered
  });

  it('leaving the for-await (break) cancels nothing pending and leaves no timer; return() during a poll ends it', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const timersBefore = activeTimers();
    for await (const event of client.watch('/doc', { wait: 30 })) {
      expect(event).toMatchObject({ deleted: false });
      break;
    }
    const events = client.watch('/doc', { wait: 30 });
    await events.next();
    const held = events.next();
    await server.waitForRequests(3);
    await delay(100);
    expect(server.open).toBe(1);
    await events.return?.();
    expect(await held).toEqual({ done: true, value: undefined });
    await delay(100);
    expect(server.open).toBe(0);
    const timersAfter = activeTimers();
    expect(timersAfter).toBeLessThanOrEqual(timersBefore);
  });

  it('an aborted signal before the start yields nothing and sends nothing', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const events = client.watch('/doc', { signal: AbortSignal.abort() });
    expect(await events.next()).toEqual({ done: true, value: undefined });
    expect(server.arrived).toBe(0);
  });

  it('rejects a negative wait', () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    expect(() => client.watch('/doc', { wait: -1 })).toThrow(RangeError);
  });
});
