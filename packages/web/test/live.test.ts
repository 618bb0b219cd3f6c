// Live documents in the web app: two browser contexts (two tabs, two
// clients) against the real `ifmatch serve`, revalidation interval off, so
// every update a tab shows came through the live channel (GETs held with
// If-None-Match + Prefer: wait, and the collection's change feed).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page, Request } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  browserAvailable,
  collectErrors,
  editorText,
  eventually,
  getJson,
  newPage,
  openDocument,
  putJson,
  repoRoot,
  SCREENSHOTS,
  serverAndBrowser,
  setEditorText,
} from './harness.js';

const run = browserAvailable();
const IMAGES = join(repoRoot, 'docs/images');

/** The /api/ requests a page sends, as they leave. */
function recordRequests(page: Page): Request[] {
  const requests: Request[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/')) requests.push(r);
  });
  return requests;
}

const json = async (page: Page) => JSON.parse(await editorText(page)) as unknown;

/** Poll `fn` every 10 ms until it is true; the milliseconds it took. */
async function msUntil(fn: () => Promise<boolean>, timeout = 5000): Promise<number> {
  const start = performance.now();
  while (!(await fn())) {
    if (performance.now() - start > timeout) throw new Error(`not true within ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - start;
}

describe.skipIf(!run)('web app: live documents', () => {
  const session = serverAndBrowser();
  const coll = `live${Date.now().toString(36)}`;
  const api = (id: string) => `${session.url}/api/${coll}/${id}`;
  const open = (page: Page, id: string) => openDocument(page, session.url, coll, id);
  const save = (page: Page) => page.getByRole('button', { name: 'Save', exact: true }).click();
  /** A tab whose steps fail within the test's time, naming the step. */
  const tab = async () => {
    const t = await newPage(session.browser);
    t.context.setDefaultTimeout(8000);
    return t;
  };
  /**
   * Tabs A and B; `errors()` is what either has logged so far (but the
   * statuses B provokes on purpose); `close()` closes both.
   */
  const twoTabs = async (expectedOnB: number[] = []) => {
    const a = await tab();
    const b = await tab();
    const logs = [collectErrors(a.page), collectErrors(b.page, expectedOnB)];
    return {
      a,
      b,
      errors: () => logs.flat(),
      close: async () => {
        await a.context.close();
        await b.context.close();
      },
    };
  };

  beforeAll(() => {
    mkdirSync(IMAGES, { recursive: true });
  });

  it('A shows the version B saves, with no action and no polling', async () => {
    const doc = { title: 'Release plan', owner: 'ann', steps: ['build', 'test'] };
    expect((await putJson(api('follow'), doc)).status).toBe(201);
    const { a, b, errors, close } = await twoTabs();
    const requestsA = recordRequests(a.page);
    try {
      await open(a.page, 'follow');
      await eventually(() => a.page.getByTestId('live').textContent()).toBe('following changes');
      await open(b.page, 'follow');

      // A is idle: it holds a waiting GET and sends nothing else (no interval).
      const idleFrom = requestsA.length;
      await new Promise((r) => setTimeout(r, 3000));
      expect(requestsA.length - idleFrom).toBeLessThanOrEqual(1);
      const waiting = requestsA.filter((r) => /wait=\d+/.test(r.headers().prefer ?? ''));
      expect(waiting.length).toBe(1); // held by the server, unanswered so far
      expect(waiting[0]?.headers()['if-none-match']).toBe(
        await a.page.getByTestId('etag').textContent(),
      );

      // B saves through its editor; A follows by itself.
      const next = { ...doc, steps: ['build', 'test', 'ship'] };
      await setEditorText(b.page, JSON.stringify(next, null, 2));
      const put = b.page.waitForResponse((r) => r.request().method() === 'PUT');
      await b.page.keyboard.press('Control+s');
      const answered = await put;
      expect(answered.status()).toBe(200);
      const lag = await msUntil(async () => {
        const text = await editorText(a.page);
        return text.includes('"ship"');
      });
      console.log(`[live] B's PUT answered -> A's editor shows it: ${lag.toFixed(0)} ms`);
      expect(lag).toBeLessThan(2000);
      expect(await json(a.page)).toEqual(next);
      expect(await a.page.getByTestId('etag').textContent()).toBe(answered.headers().etag);
      await a.page.getByTestId('updated-in-place').waitFor();
      // The new version came as the answer to the waiting GET, not from a new poll.
      const answeredWait = await Promise.all(
        waiting.map(async (r) => (await r.response())?.status()),
      );
      expect(answeredWait).toEqual([200]);
      expect(errors()).toEqual([]);
    } finally {
      await close();
    }
  });

  it("the README picture: two tabs side by side, the right one follows the left one's save", async () => {
    const doc = { title: 'Release plan', owner: 'ann', steps: ['build', 'test'] };
    expect((await putJson(api('picture'), doc)).status).toBe(201);
    const { context, page } = await newPage(session.browser, { width: 1400, height: 640 });
    context.setDefaultTimeout(8000);
    try {
      const app = `${session.url}/?interval=0#/c/${coll}/picture`;
      const pane = (name: string, caption: string) =>
        `<figure style="margin:0;flex:1;display:flex;flex-direction:column">
          <figcaption style="padding:6px 10px;font:600 15px system-ui,sans-serif">${caption}</figcaption>
          <iframe name="${name}" src="${app}" style="flex:1;border:1px solid #99a;background:#fff"></iframe>
        </figure>`;
      // The frame page on the app's origin: its frames are then first-party
      // (a new context's Chromium denies third-party frames their localStorage).
      await page.goto(`${session.url}/?interval=0`);
      const errors = collectErrors(page);
      await page.setContent(
        `<link rel="icon" href="/favicon.svg"><body style="margin:0;padding:8px;height:100vh;box-sizing:border-box;display:flex;gap:10px;background:#e8eaf0">
          ${pane('b', 'Tab B: edits and saves (Ctrl-S)')}
          ${pane('a', 'Tab A: no click, no reload — the new version arrives live')}
        </body>`,
      );
      const frame = (name: string) => page.frameLocator(`iframe[name="${name}"]`);
      for (const name of ['a', 'b']) {
        await eventually(() => frame(name).getByTestId('live').textContent()).toBe(
          'following changes',
        );
      }
      await frame('b').locator('[data-testid="doc-editor"] .cm-content').click();
      await page.keyboard.press('ControlOrMeta+a');
      await page.keyboard.insertText(
        JSON.stringify({ ...doc, steps: ['build', 'test', 'ship'] }, null, 2),
      );
      await page.keyboard.press('Control+s');
      await eventually(() => frame('b').getByTestId('notice').textContent()).toMatch(/^Saved/);
      await frame('a').getByTestId('updated-in-place').waitFor();
      expect(
        await frame('a').locator('[data-testid="doc-editor"] .cm-line').allInnerTexts(),
      ).toContain('    "ship"');
      await page.screenshot({ path: join(IMAGES, 'live-update.png') });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('unsaved edits: "Changed elsewhere" before saving, one click merges, the save stores both', async () => {
    const doc = { title: 'Plan', owner: 'ann', count: 1 };
    expect((await putJson(api('merge'), doc)).status).toBe(201);
    const { a, b, errors, close } = await twoTabs();
    // No 412 anywhere: the merge happens before the save.
    const requestsA = recordRequests(a.page);
    try {
      await open(a.page, 'merge');
      await open(b.page, 'merge');
      await setEditorText(a.page, JSON.stringify({ ...doc, owner: 'bob' }, null, 2));
      await eventually(() => a.page.getByTestId('dirty').textContent()).toBe('edited (not saved)');

      await setEditorText(b.page, JSON.stringify({ ...doc, title: 'Plan v2' }, null, 2));
      const put = b.page.waitForResponse((r) => r.request().method() === 'PUT');
      await save(b.page);
      const theirs = await put;
      expect(theirs.status()).toBe(200);
      const theirsETag = theirs.headers().etag;

      const banner = a.page.getByTestId('changed-elsewhere');
      const lag = await msUntil(() => banner.isVisible());
      console.log(`[live] B's PUT answered -> A says "Changed elsewhere": ${lag.toFixed(0)} ms`);
      expect(lag).toBeLessThan(2000);
      expect(await banner.textContent()).toContain('Changed elsewhere');
      expect(await banner.getByTestId('paths-mine').textContent()).toBe('Changed by you: /owner');
      expect(await banner.getByTestId('paths-theirs').textContent()).toBe(
        'Changed elsewhere: /title',
      );
      expect(await banner.getByTestId('paths-both').count()).toBe(0);
      // A's edits are still in its editor, and A sent no write.
      expect(await json(a.page)).toEqual({ ...doc, owner: 'bob' });
      expect(requestsA.filter((r) => r.method() !== 'GET')).toEqual([]);
      await a.page.screenshot({ path: join(SCREENSHOTS, 'changed-elsewhere.png') });

      await banner.getByRole('button', { name: 'Merge automatically' }).click();
      const merged = a.page.getByTestId('auto-merged');
      await merged.waitFor();
      expect(await merged.getByTestId('merged-mine').textContent()).toBe('Yours: /owner');
      expect(await merged.getByTestId('merged-theirs').textContent()).toBe(
        'From elsewhere: /title',
      );
      expect(await json(a.page)).toEqual({ title: 'Plan v2', owner: 'bob', count: 1 });
      await a.page.screenshot({ path: join(SCREENSHOTS, 'auto-merge.png') });
      // The editor is now based on B's version: Save sends If-Match with its ETag.
      expect(await a.page.getByTestId('etag').textContent()).toBe(theirsETag);
      expect((await getJson(api('merge'))).value).toEqual({ ...doc, title: 'Plan v2' }); // not yet

      const mine = a.page.waitForResponse((r) => r.request().method() === 'PUT');
      await a.page.keyboard.press('Control+s');
      const saved = await mine;
      expect(saved.request().headers()['if-match']).toBe(theirsETag);
      expect(saved.status()).toBe(200);
      const stored = await getJson(api('merge'));
      expect(stored.value).toEqual({ title: 'Plan v2', owner: 'bob', count: 1 });
      expect(stored.etag).toBe(saved.headers().etag);
      // B had no edits left: it follows A's merged save.
      await eventually(() => json(b.page)).toEqual(stored.value);

      // Overlapping edits: both change /count. No automatic merge; the person decides.
      await setEditorText(a.page, JSON.stringify({ ...(stored.value as object), count: 2 }));
      await eventually(() => a.page.getByTestId('dirty').textContent()).toBe('edited (not saved)');
      await setEditorText(b.page, JSON.stringify({ ...(stored.value as object), count: 3 }));
      const put2 = b.page.waitForResponse((r) => r.request().method() === 'PUT');
      await save(b.page);
      const theirs2 = await put2;
      expect(theirs2.status()).toBe(200);
      await banner.waitFor();
      expect(await banner.getByTestId('paths-both').textContent()).toBe(
        'Changed on both sides (!): /count',
      );
      expect(await banner.getByRole('button', { name: 'Merge automatically' }).count()).toBe(0);
      await banner.getByRole('button', { name: 'Show the merge view' }).click();
      const view = a.page.getByTestId('conflict-view');
      await view.waitFor();
      expect(await view.getByRole('heading', { level: 2 }).textContent()).toBe(
        'Changed elsewhere: the three versions',
      );
      expect(await view.getByRole('button', { name: 'Merge automatically' }).count()).toBe(0);
      expect(
        await a.page.locator('[data-testid="pane-theirs"] .line.conflict').allInnerTexts(),
      ).toEqual([expect.stringContaining('"count": 3')]);
      // B saves once more while A looks at the merge view: "theirs" follows.
      await setEditorText(b.page, JSON.stringify({ ...(stored.value as object), count: 4 }));
      const put3 = b.page.waitForResponse((r) => r.request().method() === 'PUT');
      await save(b.page);
      const theirs3 = await put3;
      expect(theirs3.status()).toBe(200);
      await eventually(() =>
        a.page.locator('[data-testid="pane-theirs"] .line.conflict').allInnerTexts(),
      ).toEqual([expect.stringContaining('"count": 4')]);
      expect(
        await view.getByRole('heading', { level: 3, name: /^Theirs/ }).textContent(),
      ).toContain(theirs3.headers().etag);
      await view.getByRole('button', { name: 'Merge by hand' }).click();
      expect(await json(a.page)).toEqual({ title: 'Plan v2', owner: 'bob', count: 2 }); // mine
      await setEditorText(a.page, JSON.stringify({ title: 'Plan v2', owner: 'bob', count: 5 }));
      const mine2 = a.page.waitForResponse((r) => r.request().method() === 'PUT');
      await save(a.page);
      const saved2 = await mine2;
      expect(saved2.request().headers()['if-match']).toBe(theirs3.headers().etag);
      expect(saved2.status()).toBe(200);
      expect((await getJson(api('merge'))).value).toEqual({
        title: 'Plan v2',
        owner: 'bob',
        count: 5,
      });
      expect(errors()).toEqual([]);
    } finally {
      await close();
    }
  });

  it('the collection view follows the feed: B creates a member, saves one, deletes one', async () => {
    expect((await putJson(api('keep'), { n: 1 })).status).toBe(201);
    expect((await putJson(api('doomed'), { n: 2 })).status).toBe(201);
    // After B deletes `doomed`, its document view's last read of it is a 404 (the deletion).
    const { a, b, errors, close } = await twoTabs([404]);
    let loads = 0;
    a.page.on('load', () => loads++);
    try {
      await a.page.goto(`${session.url}/?interval=0#/c/${coll}`);
      const row = (id: string) =>
        a.page
          .getByRole('row')
          .filter({ has: a.page.getByRole('link', { name: id, exact: true }) });
      await row('doomed').waitFor();
      await eventually(() => a.page.getByTestId('collection-live').textContent()).toBe(
        'Live: following the change feed',
      );

      // B creates a member through its create form.
      await b.page.goto(`${session.url}/?interval=0#/c/${coll}`);
      await b.page.getByLabel('Document id').fill('fresh');
      await setEditorText(b.page, '{"n": 3}', 'new-editor');
      await b.page.getByRole('button', { name: 'Create (only if new)' }).click();
      await b.page.waitForURL(new RegExp(`#/c/${coll}/fresh$`));
      const created = await msUntil(() => row('fresh').isVisible());
      console.log(`[live] B created -> A's listing shows it: ${created.toFixed(0)} ms`);
      expect(created).toBeLessThan(2000);

      // B saves `keep`: A's row shows the new ETag.
      const keep = await getJson(api('keep'));
      await open(b.page, 'keep');
      await setEditorText(b.page, '{"n": 10}');
      const put = b.page.waitForResponse((r) => r.request().method() === 'PUT');
      await save(b.page);
      const newETag = (await put).headers().etag!;
      expect(newETag).not.toBe(keep.etag);
      await eventually(() => row('keep').textContent(), 2000).toContain(newETag);
      expect(await row('keep').getAttribute('data-changed')).toBe('true');

      // B deletes `doomed` (confirming the dialog): A drops the row.
      await open(b.page, 'doomed');
      await b.page.getByRole('button', { name: 'Delete…' }).click();
      await b.page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await b.page.waitForURL(new RegExp(`#/c/${coll}$`));
      const dropped = await msUntil(async () => (await row('doomed').count()) === 0);
      console.log(`[live] B deleted -> A's listing drops it: ${dropped.toFixed(0)} ms`);
      expect(dropped).toBeLessThan(2000);
      expect((await getJson(api('doomed'))).status).toBe(404);
      expect(await a.page.getByTestId('live-log').textContent()).toContain('doomed deleted');
      await row('fresh').waitFor(); // still there
      expect(loads).toBe(1); // never reloaded
      expect(errors()).toEqual([]);
    } finally {
      await close();
    }
  });
});
