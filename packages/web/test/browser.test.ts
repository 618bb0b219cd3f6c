// The web app in real Chromium against the real server over loopback.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
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
  SCREENSHOTS,
  serverAndBrowser,
  setEditorText,
} from './harness.js';

const run = browserAvailable();

describe.skipIf(!run)('web app in Chromium', () => {
  const session = serverAndBrowser();
  const coll = `web${Date.now().toString(36)}`;
  const api = (id: string) => `${session.url}/api/${coll}/${id}`;

  beforeAll(() => {
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  const openDoc = (page: Page, id: string, interval = 0) =>
    openDocument(page, session.url, coll, id, interval);

  const notice = (page: Page) => page.getByTestId('notice');

  it('two tabs: A saves, B gets the conflict view, merges by hand, saves; both edits stored', async () => {
    const created = await putJson(
      api('shared'),
      { title: 'Plan', owner: 'ann', count: 1 },
      {
        'if-none-match': '*',
      },
    );
    expect(created.status).toBe(201);

    const a = await newPage(session.browser);
    const b = await newPage(session.browser);
    const errorsA = collectErrors(a.page);
    const errorsB = collectErrors(b.page, [412]);
    try {
      await openDoc(a.page, 'shared');
      await openDoc(b.page, 'shared');
      const etagBefore = await a.page.getByTestId('etag').textContent();
      expect(await b.page.getByTestId('etag').textContent()).toBe(etagBefore);
      expect(JSON.parse(await editorText(a.page))).toEqual({
        title: 'Plan',
        owner: 'ann',
        count: 1,
      });

      // B starts editing a different field before A saves.
      await setEditorText(
        b.page,
        JSON.stringify({ title: 'Plan', owner: 'bob', count: 1 }, null, 2),
      );
      await eventually(() => b.page.getByTestId('dirty').textContent()).toBe('edited (not saved)');

      // A edits `title` and saves (Ctrl+S from the editor: the keyboard path).
      await setEditorText(
        a.page,
        JSON.stringify({ title: 'Plan v2', owner: 'ann', count: 1 }, null, 2),
      );
      await a.page.keyboard.press('Control+s');
      await eventually(() => notice(a.page).textContent()).toMatch(/^Saved\. New ETag "/);
      const etagA = await a.page.getByTestId('etag').textContent();
      expect(etagA).not.toBe(etagBefore);

      // B saves with its stale ETag: 412, the conflict view opens, nothing overwritten.
      await b.page.getByRole('button', { name: 'Save', exact: true }).click();
      const conflict = b.page.getByTestId('conflict-view');
      await conflict.waitFor();
      expect(await b.page.getByTestId('paths-mine').textContent()).toContain('/owner');
      expect(await b.page.getByTestId('paths-theirs').textContent()).toContain('/title');
      expect(await b.page.getByTestId('paths-both').count()).toBe(0);
      expect(
        await b.page.locator('[data-testid="pane-theirs"] .line.changed').allInnerTexts(),
      ).toEqual([expect.stringContaining('"title": "Plan v2"')]);
      expect(
        await b.page.locator('[data-testid="pane-mine"] .line.changed').allInnerTexts(),
      ).toEqual([expect.stringContaining('"owner": "bob"')]);
      expect((await getJson(api('shared'))).value).toEqual({
        title: 'Plan v2',
        owner: 'ann',
        count: 1,
      });
      await b.page.screenshot({ path: join(SCREENSHOTS, 'conflict.png'), fullPage: true });

      // Merge by hand: the editor starts from both sides' changes; B also bumps count.
      await b.page.getByRole('button', { name: 'Merge by hand' }).click();
      const merged = JSON.parse(await editorText(b.page));
      expect(merged).toEqual({ title: 'Plan v2', owner: 'bob', count: 1 });
      await setEditorText(b.page, JSON.stringify({ ...merged, count: 2 }, null, 2));
      await b.page.getByRole('button', { name: 'Save', exact: true }).click();
      await eventually(() => notice(b.page).textContent()).toMatch(/^Saved\./);
      expect(await b.page.getByTestId('conflict-view').count()).toBe(0);

      const stored = await getJson(api('shared'));
      expect(stored.value).toEqual({ title: 'Plan v2', owner: 'bob', count: 2 });
      expect(await b.page.getByTestId('etag').textContent()).toBe(stored.etag);

      // A has no local edits: the revalidation on focus brings B's merge in place.
      await a.page.bringToFront();
      await a.page.evaluate(() => window.dispatchEvent(new Event('visibilitychange')));
      await eventually(async () => JSON.parse(await editorText(a.page))).toEqual({
        title: 'Plan v2',
        owner: 'bob',
        count: 2,
      });
      expect(errorsA).toEqual([]);
      expect(errorsB).toEqual([]);
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });

  it('conflict actions: take theirs discards mine; keep mine overwrites only after confirming', async () => {
    expect((await putJson(api('pick'), { a: 1, b: 1 })).status).toBe(201);
    const { context, page } = await newPage(session.browser);
    const errors = collectErrors(page, [412]);
    const saveButton = page.getByRole('button', { name: 'Save', exact: true });
    const changeElsewhere = async (value: unknown) => {
      const { etag } = await getJson(api('pick'));
      expect((await putJson(api('pick'), value, { 'if-match': etag! })).status).toBe(200);
    };
    try {
      await openDoc(page, 'pick');
      await setEditorText(page, '{"a": 2, "b": 1}');
      await changeElsewhere({ a: 3, b: 1 });
      await saveButton.click();
      await page.getByTestId('conflict-view').waitFor();
      // Both sides changed /a: marked as a conflict in every pane.
      expect(await page.getByTestId('paths-both').textContent()).toContain('/a');
      expect(await page.locator('[data-testid="pane-mine"] .line.conflict').count()).toBe(1);
      await page.getByRole('button', { name: 'Take theirs' }).click();
      expect(JSON.parse(await editorText(page))).toEqual({ a: 3, b: 1 });
      expect(await page.getByTestId('etag').textContent()).toBe((await getJson(api('pick'))).etag);

      await setEditorText(page, '{"a": 4, "b": 1}');
      await changeElsewhere({ a: 5, b: 5 });
      await saveButton.click();
      await page.getByTestId('conflict-view').waitFor();
      await page.getByRole('button', { name: 'Keep mine…' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      expect((await getJson(api('pick'))).value).toEqual({ a: 5, b: 5 }); // not yet
      await page.getByRole('button', { name: 'Keep mine…' }).click();
      await dialog.getByRole('button', { name: 'Save mine over theirs' }).click();
      await eventually(() => notice(page).textContent()).toMatch(/^Saved\./);
      expect((await getJson(api('pick'))).value).toEqual({ a: 4, b: 1 });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('the app itself is revalidated: index.html no-cache with an ETag (304), hashed assets immutable', async () => {
    const page = await fetch(`${session.url}/`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toContain('no-cache');
    const etag = page.headers.get('etag');
    expect(etag).toMatch(/^"/);
    const again = await fetch(`${session.url}/`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2); // the app's script and its CSS at least
    for (const asset of assets) {
      expect(asset).toMatch(/-[A-Za-z0-9_-]{8}\.(js|css)$/); // content-hashed names
      const res = await fetch(`${session.url}${asset}`);
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toContain('immutable');
    }
    const icon = await fetch(`${session.url}/favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toContain('image/svg+xml');
  });

  it('revalidation shows 304s and the bytes they saved; a change elsewhere updates in place', async () => {
    const body = {
      title: 'Release checklist',
      owner: 'ann',
      tags: ['release', 'q4'],
      steps: Array.from({ length: 24 }, (_, i) => ({
        n: i + 1,
        task: `step ${i + 1}`,
        done: i < 5,
      })),
    };
    expect((await putJson(api('fresh'), body)).status).toBe(201);
    const { context, page } = await newPage(session.browser);
    const errors = collectErrors(page);
    try {
      await openDoc(page, 'fresh', 1);
      await eventually(async () =>
        Number(await page.getByTestId('stat-304').textContent()),
      ).toBeGreaterThanOrEqual(1);
      const savedTitle = await page.getByTestId('stat-saved').getAttribute('title');
      const saved = Number(/^(\d+)/.exec(savedTitle ?? '')?.[1]);
      expect(saved).toBeGreaterThanOrEqual(JSON.stringify(body).length);
      await page.getByText('Recent requests').click();
      expect(await page.locator('.log li.hit').count()).toBeGreaterThan(0);
      expect(await page.getByTestId('last-check').textContent()).toMatch(/304|checking/);
      await page.screenshot({ path: join(SCREENSHOTS, 'editor.png') });

      // Changed elsewhere, no local edits: the editor follows.
      const etag = (await getJson(api('fresh'))).etag!;
      expect((await putJson(api('fresh'), { note: 'changed' }, { 'if-match': etag })).status).toBe(
        200,
      );
      await eventually(async () => JSON.parse(await editorText(page))).toEqual({ note: 'changed' });
      await page.getByTestId('updated-in-place').waitFor();

      // With local edits: a banner instead, the text is kept.
      await setEditorText(page, '{"note": "mine"}');
      const etag2 = (await getJson(api('fresh'))).etag!;
      expect((await putJson(api('fresh'), { note: 'theirs' }, { 'if-match': etag2 })).status).toBe(
        200,
      );
      await page.getByTestId('changed-elsewhere').waitFor({ timeout: 15_000 });
      expect(JSON.parse(await editorText(page))).toEqual({ note: 'mine' });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('create-only refuses an existing id and overwrites nothing', async () => {
    expect((await putJson(api('taken'), { keep: true })).status).toBe(201);
    const { context, page } = await newPage(session.browser);
    const errors = collectErrors(page, [412]);
    try {
      await page.goto(`${session.url}/?interval=0#/c/${coll}`);
      await page.getByRole('link', { name: 'taken' }).waitFor();
      await page.getByLabel('Document id').fill('taken');
      await setEditorText(page, '{"keep": false}', 'new-editor');
      await page.getByRole('button', { name: 'Create (only if new)' }).click();
      await eventually(() => page.getByTestId('create-message').textContent()).toContain(
        '“taken” already exists',
      );
      expect((await getJson(api('taken'))).value).toEqual({ keep: true });

      // A new id is created and opened.
      await page.getByLabel('Document id').fill('brand-new');
      await page.getByRole('button', { name: 'Create (only if new)' }).click();
      await eventually(() => page.getByTestId('etag').textContent()).toMatch(/^"/);
      expect((await getJson(api('brand-new'))).value).toEqual({ keep: false });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('delete with a stale ETag is refused; with the current one it deletes (keyboard confirm)', async () => {
    expect((await putJson(api('victim'), { v: 1 })).status).toBe(201);
    const { context, page } = await newPage(session.browser);
    const errors = collectErrors(page, [412]);
    // This tab's live channel is held back (its waiting GETs get no answer),
    // as on a slow network: it keeps the version it loaded, and the server
    // must refuse a delete of that stale version.
    await page.route('**/api/**', (route) => {
      if (!/wait=/.test(route.request().headers().prefer ?? '')) void route.continue();
    });
    try {
      await openDoc(page, 'victim');
      const stale = await page.getByTestId('etag').textContent();
      const now = (await getJson(api('victim'))).etag!;
      expect((await putJson(api('victim'), { v: 2 }, { 'if-match': now })).status).toBe(200);

      await page.getByRole('button', { name: 'Delete…' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Delete' }).click();
      await eventually(() => notice(page).textContent()).toContain('Not deleted');
      expect(await notice(page).textContent()).toContain(stale!);
      expect((await getJson(api('victim'))).value).toEqual({ v: 2 });

      // The refusal re-reads; with the current ETag the delete goes through, by keyboard.
      await eventually(async () => JSON.parse(await editorText(page))).toEqual({ v: 2 });
      await page.getByRole('button', { name: 'Delete…' }).focus();
      await page.keyboard.press('Enter');
      await dialog.waitFor();
      await page.keyboard.press('Tab'); // Cancel has focus first; Tab to Delete
      await page.keyboard.press('Enter');
      await page.waitForURL(new RegExp(`#/c/${coll}$`));
      expect((await getJson(api('victim'))).status).toBe(404);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('browse by keyboard: home, open a collection by name, open a document; deleted elsewhere is shown', async () => {
    expect((await putJson(api('listed'), { hello: 'world' })).status).toBe(201);
    const { context, page } = await newPage(session.browser);
    const errors = collectErrors(page, [404]);
    try {
      await page.goto(`${session.url}/?interval=1`);
      await page.getByRole('textbox', { name: 'Collection' }).fill(coll);
      await page.keyboard.press('Enter');
      const link = page.getByRole('link', { name: 'listed', exact: true });
      await link.waitFor();
      // The listing row shows the document's current validators.
      const row = page.getByRole('row').filter({ has: link });
      expect(await row.textContent()).toContain((await getJson(api('listed'))).etag!);
      await link.focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(new RegExp(`#/c/${coll}/listed$`));
      await eventually(async () => JSON.parse(await editorText(page))).toEqual({ hello: 'world' });
      expect(await page.getByTestId('last-modified').textContent()).toMatch(/GMT$/);
      expect(await page.title()).toBe(`listed — ${coll} — ifmatch`);

      const { etag } = await getJson(api('listed'));
      const del = await fetch(api('listed'), { method: 'DELETE', headers: { 'if-match': etag! } });
      expect(del.status).toBe(204);
      await page.getByTestId('deleted-elsewhere').waitFor({ timeout: 15_000 });
      expect(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled()).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('invalid JSON cannot be saved; the page fits a phone screen', async () => {
    expect((await putJson(api('phone'), { a: 1 })).status).toBe(201);
    const { context, page } = await newPage(session.browser, { width: 390, height: 844 });
    const errors = collectErrors(page);
    try {
      await openDoc(page, 'phone');
      await setEditorText(page, '{"a": 1,');
      await page.getByTestId('json-error').waitFor();
      expect(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled()).toBe(true);
      await page.keyboard.press('Control+s'); // refused too
      expect((await getJson(api('phone'))).value).toEqual({ a: 1 });
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      // Every form control has an accessible name.
      const unnamed = await page.evaluate(
        () =>
          Array.from(document.querySelectorAll('input, button')).filter((el) => {
            const e = el as HTMLInputElement;
            return !(e.labels?.length || e.getAttribute('aria-label') || e.textContent?.trim());
          }).length,
      );
      expect(unnamed).toBe(0);
      const duplicateIds = await page.evaluate(() => {
        const ids = Array.from(document.querySelectorAll('[id]'), (e) => e.id);
        return ids.filter((id, i) => ids.indexOf(id) !== i);
      });
      expect(duplicateIds).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
