// Shared set-up for the browser tests: the real server (the CLI from dist/,
// serving the built web app) on an ephemeral port, and Debian's Chromium.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { browserAvailable as available } from '../../react-query/test/helpers/chromium.js';
import { startServer as startCli } from '../../server/test/helpers/process.js';

// Chromium and plain HTTP helpers are shared with packages/react-query's browser tests.
export {
  collectErrors,
  launchBrowser,
  newPage,
} from '../../react-query/test/helpers/chromium.js';
export { getJson, putJson } from '../../react-query/test/helpers/http.js';

export const browserAvailable = () => available('web');

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..', '..');
const WEB_DIST = join(repoRoot, 'packages/web/dist/index.html');
export const SCREENSHOTS = join(repoRoot, 'packages/web/screenshots');

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
