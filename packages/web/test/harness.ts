// Shared set-up for the browser tests: the real server (the CLI from dist/,
// serving the built web app) on an ephemeral port, and Debian's Chromium.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { startServer as startCli } from '../../server/test/helpers/process.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
const WEB_DIST = join(repoRoot, 'packages/web/dist/index.html');
export const SCREENSHOTS = join(repoRoot, 'packages/web/screenshots');

/**
 * Skip only outside CI and only when Chromium is missing: in CI (CI=true)
 * a missing browser must fail the run, never pass it by skipping.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) return true; // the launch will fail loudly
  console.warn(
    `[web] SKIPPING browser tests: ${CHROMIUM} not found. Install Debian's chromium (apt-get install -y chromium) to run them; in CI they are required.`,
  );
  return false;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** `ifmatch serve --port 0` on a fresh SQLite file; resolves with its URL. */
export async function startServer(): Promise<RunningServer> {
  if (!existsSync(WEB_DIST)) throw new Error(`${WEB_DIST} is missing: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'ifmatch-web-'));
  try {
    const server = await startCli(['--db', join(dir, 'web.db'), '--log-level', 'warn']);
    return {
      url: server.url,
      async close() {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Everything the page reports as an error: uncaught exceptions and console
 * errors. Chromium also logs each HTTP error response of a fetch as a console
 * error ("Failed to load resource: ... status of 412"); `expectedStatuses`
 * lists the statuses a scenario provokes on purpose (the 412 is the protocol
 * working); any other error is kept and fails the test.
 */
export function collectErrors(page: Page, expectedStatuses: number[] = []): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const status = /the server responded with a status of (\d{3})/.exec(text);
    const apiCall = m.location().url.includes('/api/');
    if (status && apiCall && expectedStatuses.includes(Number(status[1]))) return;
    errors.push(`console.error: ${text} (${m.location().url})`);
  });
  return errors;
}

export async function newPage(
  browser: Browser,
  viewport = { width: 1280, height: 900 },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  return { context, page };
}

/** Replace the CodeMirror text as a person would paste it (keyboard events, no DOM poking). */
export async function setEditorText(page: Page, text: string, testId = 'doc-editor') {
  const content = page.locator(`[data-testid="${testId}"] .cm-content`);
  await content.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

export async function editorText(page: Page, testId = 'doc-editor'): Promise<string> {
  // CodeMirror renders one .cm-line per line.
  const lines = await page.locator(`[data-testid="${testId}"] .cm-line`).allInnerTexts();
  return lines.join('\n');
}

/** Plain HTTP helpers (Node's fetch) to set up and check server state. */
export async function putJson(url: string, value: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  });
  await res.arrayBuffer();
  return res;
}

export async function getJson(
  url: string,
): Promise<{ status: number; etag: string | null; value: unknown }> {
  const res = await fetch(url);
  const text = await res.text();
  return {
    status: res.status,
    etag: res.headers.get('etag'),
    value: text ? JSON.parse(text) : undefined,
  };
}
