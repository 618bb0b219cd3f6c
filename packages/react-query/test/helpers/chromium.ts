// Debian's Chromium driven by playwright-core, for every browser test in the
// workspace (this package's hooks and packages/web's app): one set of launch
// flags, one skip rule, one console-error filter.
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Skip only outside CI and only when Chromium is missing: in CI (CI=true)
 * a missing browser must fail the run, never pass it by skipping.
 */
export function browserAvailable(label: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) return true; // the launch will fail loudly
  console.warn(
    `[${label}] SKIPPING browser tests: ${CHROMIUM} not found. Install Debian's chromium (apt-get install -y chromium) to run them; in CI they are required.`,
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

export async function newPage(
  browser: Browser,
  viewport = { width: 1280, height: 900 },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  return { context, page };
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
