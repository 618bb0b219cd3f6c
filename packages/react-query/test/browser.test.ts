// The hooks in real Chromium: a small app (test/fixture) served by Vite from
// the sources, against the real document server over loopback.
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../client/test/helpers/server.js';
import type { DocumentSnapshot, StatsSnapshot } from '../src/index.js';
import { browserAvailable, collectErrors, launchBrowser, newPage } from './helpers/chromium.js';
import { type FixtureServer, serveFixture } from './helpers/fixture.js';
import { getJson, putJson } from './helpers/http.js';

const run = browserAvailable('react-query');

/** expect.poll with room for a loaded CI machine (the default is 1 s). */
const eventually = <T>(fn: () => T | Promise<T>) =>
  expect.poll(fn, { timeout: 15_000, interval: 50 });

/** What test/fixture/main.tsx exposes on window. */
interface Probe {
  renders: number;
  snapshots: DocumentSnapshot[];
  stats(): StatsSnapshot;
  currentIndex(): number;
  refetch(): Promise<void>;
}
declare const probe: Probe;
declare const parses: number;

const measure = (page: Page) =>
  page.evaluate(() => ({
    renders: probe.renders,
    snapshots: probe.snapshots.length,
    current: probe.currentIndex(),
    parses,
    ...probe.stats(),
  }));

describe.skipIf(!run)('@ifmatch/react-query in Chromium', () => {
  let server: RunningServer;
  let fixture: FixtureServer;
  let browser: Browser;
  const coll = `rq${Date.now().toString(36)}`;
  const path = (id: string) => `/api/${coll}/${id}`;

  beforeAll(async () => {
    server = await startServer();
    fixture = await serveFixture(server.url);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await fixture?.close();
    await server?.close();
  });

  async function open(id: string, interval: number, extra = '') {
    const { context, page } = await newPage(browser);
    const requests: Request[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/')) requests.push(r);
    });
    await page.goto(
      `${fixture.url}/?doc=${encodeURIComponent(path(id))}&interval=${interval}${extra}`,
    );
    await eventually(() => page.getByTestId('etag').textContent()).toMatch(/^"/);
    return { context, page, requests };
  }

  it('revalidations answered 304 parse nothing, keep the same data object and render nothing', async () => {
    const doc = { title: 'steady', items: Array.from({ length: 50 }, (_, i) => ({ i })) };
    expect((await putJson(server.url + path('steady'), doc)).status).toBe(201);
    const size = new TextEncoder().encode(JSON.stringify(doc)).byteLength;

    const { context, page, requests } = await open('steady', 100);
    const errors = collectErrors(page);
    try {
      const before = await measure(page);
      expect(before.snapshots).toBe(1);
      // Five more revalidations on the hook's own interval.
      await eventually(async () => (await measure(page)).notModified).toBeGreaterThanOrEqual(
        before.notModified + 5,
      );
      const after = await measure(page);
      expect(after.renders).toBe(before.renders); // React rendered nothing
      expect(after.parses).toBe(before.parses); // no JSON.parse for a 304
      expect(after.snapshots).toBe(1);
      expect(after.current).toBe(0); // the query still holds the very first object
      expect(after.requests).toBe(after.notModified + 1); // one 200, then only 304s
      expect(after.bytesSaved).toBe(after.notModified * size);
      // The same tree did re-render where something changed: the counters.
      const shown = async () =>
        Number(
          /(\d+) not modified/.exec((await page.getByTestId('counters').textContent()) ?? '')?.[1],
        );
      await eventually(shown).toBeGreaterThanOrEqual(after.notModified);
      // Every revalidation asked with the ETag it holds.
      const etag = await page.getByTestId('etag').textContent();
      const gets = requests.filter((r) => r.method() === 'GET');
      expect(gets.length).toBeGreaterThanOrEqual(6);
      for (const r of gets.slice(1)) expect(await r.headerValue('if-none-match')).toBe(etag);

      // The control: a change elsewhere is one new object and exactly one render.
      const changed = await putJson(
        server.url + path('steady'),
        { ...doc, title: 'changed' },
        { 'if-match': etag! },
      );
      expect(changed.status).toBe(200);
      await eventually(() => page.getByTestId('title').textContent()).toBe('changed');
      const settled = (await measure(page)).notModified;
      await eventually(async () => (await measure(page)).notModified).toBeGreaterThanOrEqual(
        settled + 3,
      );
      const last = await measure(page);
      expect(last.renders).toBe(after.renders + 1);
      expect(last.snapshots).toBe(2);
      expect(last.current).toBe(1);
      expect(last.parses).toBeGreaterThan(after.parses); // the 200's body was parsed, once
      expect(await page.getByTestId('etag').textContent()).toBe(changed.headers.get('etag'));
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('save sends If-Match; a 412 is a ConflictError with the current document; saving on it wins', async () => {
    expect((await putJson(server.url + path('race'), { title: 'v1', owner: 'ann' })).status).toBe(
      201,
    );
    const { context, page, requests } = await open('race', 0);
    const errors = collectErrors(page, [412]);
    try {
      const mine = await page.getByTestId('etag').textContent();
      // Someone else saves first.
      const theirs = await putJson(
        server.url + path('race'),
        { title: 'theirs', owner: 'bob' },
        { 'if-match': mine! },
      );
      expect(theirs.status).toBe(200);
      const theirsETag = theirs.headers.get('etag');

      await page.getByLabel('New title').fill('mine');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await eventually(() => page.getByTestId('conflict-etag').textContent()).toBe(theirsETag);
      expect(JSON.parse((await page.getByTestId('conflict-current').textContent()) ?? '')).toEqual({
        title: 'theirs',
        owner: 'bob',
      });
      const put = requests.find((r) => r.method() === 'PUT');
      expect(await put?.headerValue('if-match')).toBe(mine);
      expect(await put?.response().then((r) => r?.status())).toBe(412);
      // Nothing was overwritten.
      expect(await getJson(server.url + path('race'))).toMatchObject({
        etag: theirsETag,
        value: { title: 'theirs', owner: 'bob' },
      });

      // Re-apply on their version: the write carries their ETag and wins.
      await page.getByRole('button', { name: 'Save over theirs' }).click();
      await eventually(() => page.getByTestId('saved').textContent()).toMatch(/^"/);
      const saved = await page.getByTestId('saved').textContent();
      const stored = await getJson(server.url + path('race'));
      expect(stored).toMatchObject({ etag: saved, value: { title: 'mine', owner: 'ann' } });
      // The save primed the query with the new state: shown at once, and the
      // next revalidation is a 304.
      expect(await page.getByTestId('title').textContent()).toBe('mine');
      expect(await page.getByTestId('etag').textContent()).toBe(saved);
      await page.evaluate(() => probe.refetch());
      const s = await page.evaluate(() => probe.stats());
      expect(s.recent[0]).toMatchObject({ method: 'GET', status: 304 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('useLiveDocument: waits answered 304 render nothing; a save elsewhere arrives at once, one render', async () => {
    const doc = { title: 'quiet', items: Array.from({ length: 20 }, (_, i) => ({ i })) };
    expect((await putJson(server.url + path('live'), doc)).status).toBe(201);
    // No interval: every request after the first two is a GET the server holds (wait=1).
    const { context, page, requests } = await open('live', 0, '&live=1');
    const errors = collectErrors(page);
    try {
      await eventually(async () => (await measure(page)).notModified).toBeGreaterThanOrEqual(1);
      const before = await measure(page);
      // Two more waits run out with nothing new: 304s, no body, no render.
      await eventually(async () => (await measure(page)).notModified).toBeGreaterThanOrEqual(
        before.notModified + 2,
      );
      const idle = await measure(page);
      expect(idle.renders).toBe(before.renders);
      expect(idle.parses).toBe(before.parses);
      expect(idle.snapshots).toBe(1);
      const etag = await page.getByTestId('etag').textContent();
      const held = requests.filter((r) => r.headers().prefer === 'wait=1');
      expect(held.length).toBeGreaterThanOrEqual(2);
      for (const r of held) expect(r.headers()['if-none-match']).toBe(etag);
      // Each one was held about a second: a wait, not a poll.
      expect(requests.length).toBeLessThanOrEqual(idle.notModified + 3);

      const sent = performance.now();
      const changed = await putJson(
        server.url + path('live'),
        { ...doc, title: 'pushed' },
        { 'if-match': etag! },
      );
      expect(changed.status).toBe(200);
      await expect
        .poll(() => page.getByTestId('title').textContent(), { timeout: 2000, interval: 10 })
        .toBe('pushed');
      console.log(
        `[react-query] PUT -> rendered through the waiting GET: ${(performance.now() - sent).toFixed(0)} ms`,
      );
      const after = await measure(page);
      expect(after.renders).toBe(idle.renders + 1);
      expect(after.snapshots).toBe(2);
      expect(after.current).toBe(1);
      expect(await page.getByTestId('etag').textContent()).toBe(changed.headers.get('etag'));
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
    // Closing the page ended its held request on the server too.
    await eventually(() => server.waiters()).toBe(0);
  });

  it('useLiveDocument holds no request while the page is hidden, and catches up when shown', async () => {
    expect((await putJson(server.url + path('hidden'), { title: 'before' })).status).toBe(201);
    const { context, page } = await open('hidden', 0, '&live=5');
    const errors = collectErrors(page);
    const setVisibility = (state: 'hidden' | 'visible') =>
      page.evaluate((value) => {
        Object.defineProperty(document, 'visibilityState', { value, configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
      }, state);
    try {
      await eventually(() => server.waiters()).toBe(1);
      await setVisibility('hidden');
      await eventually(() => server.waiters()).toBe(0); // its held GET was cancelled
      const { etag } = await getJson(server.url + path('hidden'));
      expect(
        (
          await putJson(
            server.url + path('hidden'),
            { title: 'while hidden' },
            { 'if-match': etag! },
          )
        ).status,
      ).toBe(200);
      await new Promise((r) => setTimeout(r, 500));
      expect(await page.getByTestId('title').textContent()).toBe('before');
      await setVisibility('visible');
      await eventually(() => page.getByTestId('title').textContent()).toBe('while hidden');
      await eventually(() => server.waiters()).toBe(1); // following again
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('useCollectionUpdates: members created, saved and deleted elsewhere show up in the listing', async () => {
    const c = `${coll}-feed`;
    const member = (id: string) => `${server.url}/api/${c}/${id}`;
    expect((await putJson(member('a'), { n: 1 })).status).toBe(201);
    const { context, page } = await newPage(browser);
    const errors = collectErrors(page);
    const members = () => page.getByTestId('members').locator('li').allInnerTexts();
    try {
      await page.goto(`${fixture.url}/?collection=${encodeURIComponent(`/api/${c}`)}`);
      await eventually(members).toEqual(['a']);
      await eventually(() => page.getByTestId('feed-state').textContent()).toBe('live');
      const b = await putJson(member('b'), { n: 2 });
      expect(b.status).toBe(201);
      await eventually(members).toEqual(['a', 'b']);
      const a = await getJson(member('a'));
      const saved = await putJson(member('a'), { n: 3 }, { 'if-match': a.etag! });
      await eventually(() =>
        page.getByTestId('members').locator('li', { hasText: 'a' }).getAttribute('data-etag'),
      ).toBe(saved.headers.get('etag'));
      const del = await fetch(member('b'), { method: 'DELETE' });
      expect(del.status).toBe(204);
      await eventually(members).toEqual(['a']);
      // In commit order, each once.
      expect(await page.getByTestId('recent').locator('li').allInnerTexts()).toEqual([
        'b deleted',
        `a ${saved.headers.get('etag')}`,
        `b ${b.headers.get('etag')}`,
      ]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('useCollectionUpdates: a cursor the server no longer keeps (410) lists again and follows on', async () => {
    // Changes are kept 300 ms: a feed cut off for longer falls behind.
    const short = await startServer({ changeRetentionMs: 300 });
    const page2 = await serveFixture(short.url);
    const { context, page } = await newPage(browser);
    const errors = collectErrors(page, [410]);
    const member = (id: string) => `${short.url}/api/cut/${id}`;
    const members = () => page.getByTestId('members').locator('li').allInnerTexts();
    const feedAnswers: number[] = [];
    page.on('response', (r) => {
      if (r.url().includes('since=')) feedAnswers.push(r.status());
    });
    try {
      expect((await putJson(member('a'), { n: 1 })).status).toBe(201);
      // Offline for the feed only: its requests fail (the client retries with backoff).
      await page.route(/since=/, (route) => route.abort('internetdisconnected'));
      await page.goto(`${page2.url}/?collection=${encodeURIComponent('/api/cut')}&live=5`);
      await eventually(members).toEqual(['a']);
      expect((await putJson(member('b'), { n: 2 })).status).toBe(201);
      expect((await putJson(member('c'), { n: 3 })).status).toBe(201);
      await new Promise((r) => setTimeout(r, 1000)); // b and c pruned from the log
      await page.unroute(/since=/);
      // The next feed request is 410; the listing is fetched again, with b and c.
      await eventually(members).toEqual(['a', 'b', 'c']);
      expect(feedAnswers).toContain(410);
      expect(await page.getByTestId('feed-state').textContent()).toBe('live');
      // And it follows on from the new listing's cursor.
      expect((await putJson(member('d'), { n: 4 })).status).toBe(201);
      await eventually(members).toEqual(['a', 'b', 'c', 'd']);
      expect(await page.getByTestId('recent').locator('li').allInnerTexts()).toEqual([
        expect.stringMatching(/^d "/),
      ]);
      // The only errors: the feed requests cut off on purpose.
      expect(errors.filter((e) => !e.includes('ERR_INTERNET_DISCONNECTED'))).toEqual([]);
    } finally {
      await context.close();
      await page2.close();
      await short.close();
    }
  });
});
