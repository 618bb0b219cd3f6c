// Shared set-up for the browser tests: the real server (the CLI from dist/,
// serving the built web app) on an ephemeral port, and Debian's Chromium.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  browserAvailable as available,
  launchBrowser,
} from '../../react-query/test/helpers/chromium.js';
import { CLI, startServer as startCli } from '../../server/test/helpers/process.js';

// Chromium and plain HTTP helpers are shared with packages/react-query's browser tests.
export { collectErrors, newPage } from '../../react-query/test/helpers/chromium.js';
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

const run = promisify(execFile);

/** Newest mtime of the files named by `pattern` under `dirs` (paths from the repository root). */
function newest(dirs: string[], pattern: RegExp): number {
  let t = 0;
  for (const dir of dirs) {
    for (const name of readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })) {
      if (pattern.test(name)) t = Math.max(t, statSync(join(repoRoot, dir, name)).mtimeMs);
    }
  }
  return t;
}

const older = (output: string, dirs: string[], pattern: RegExp) =>
  !existsSync(output) || statSync(output).mtimeMs < newest(dirs, pattern);

const serverStale = () =>
  older(CLI, ['packages/server/src', 'packages/core/src', 'packages/client/src'], /\.ts$/);
const webStale = () =>
  older(
    WEB_DIST,
    ['packages/web/src', 'packages/react-query/src', 'packages/client/src'],
    /\.(tsx?|css)$/,
  ) || statSync(WEB_DIST).mtimeMs < statSync(join(repoRoot, 'packages/web/index.html')).mtimeMs;

/** One build at a time across test files (vitest runs them in parallel processes). */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = join(tmpdir(), 'ifmatch-web-build.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Held by another test file's build; a lock older than 5 minutes is a crashed run's.
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 300_000) {
        rmSync(lock, { recursive: true, force: true });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The tests run what users run: the CLI from dist/ serving the built app.
 * Rebuild either when older than its sources, so a plain `npx vitest run`
 * after an edit does not test yesterday's build. Asynchronous: a build takes
 * tens of seconds, and the test worker must keep answering meanwhile.
 */
async function buildStale(): Promise<void> {
  if (!serverStale() && !webStale()) return;
  await withBuildLock(async () => {
    if (serverStale()) {
      try {
        await run('npx', ['tsc', '-b', 'packages/server'], { cwd: repoRoot });
      } catch (error) {
        // Sources mid-edit (another change in the same checkout) may not compile:
        // say so and run the dist/ there is, rather than nothing.
        if (!existsSync(CLI)) throw error;
        console.warn(`[web] server rebuild failed, testing the existing dist/: ${String(error)}`);
      }
    }
    if (webStale()) {
      // The app's typecheck reads @ifmatch/react-query's (and client's) .d.ts.
      await run('npx', ['tsc', '-b', 'packages/react-query'], { cwd: repoRoot });
      await run('npm', ['run', 'build', '--workspace', 'packages/web'], { cwd: repoRoot });
    }
  });
}

/** `ifmatch serve --port 0` on a fresh SQLite file; resolves with its URL. */
export async function startServer(): Promise<RunningServer> {
  await buildStale();
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

/** The server and the browser the tests of one describe block share. */
export interface Session {
  /** The server's base URL. */
  readonly url: string;
  readonly browser: Browser;
}

/**
 * Starts the server and Chromium in the calling describe block's beforeAll
 * (it may rebuild a stale dist/ first: minutes), closes both in its afterAll.
 */
export function serverAndBrowser(): Session {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('serverAndBrowser(): used before its beforeAll');
    return value;
  };
  return {
    get url() {
      return started(server).url;
    },
    get browser() {
      return started(browser);
    },
  };
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

/** expect.poll with room for a loaded CI machine (the default is 1 s). */
export const eventually = <T>(fn: () => T | Promise<T>, timeout = 15_000) =>
  expect.poll(fn, { timeout, interval: 25 });

/** Open a document (revalidation interval off unless asked); resolves once it is shown. */
export async function openDocument(
  page: Page,
  serverUrl: string,
  collection: string,
  id: string,
  interval = 0,
): Promise<void> {
  await page.goto(`${serverUrl}/?interval=${interval}#/c/${collection}/${id}`);
  await eventually(() => page.getByTestId('etag').textContent()).toMatch(/^"/);
}
