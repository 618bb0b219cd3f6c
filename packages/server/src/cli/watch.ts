// `ifmatch watch URL`: prints each new version of a document, or each change
// of a collection, as it happens (for people debugging with a terminal). Built
// on @ifmatch/client's watch() and changes(): the conditional long-poll
// (If-None-Match + Prefer: wait) and the change feed, with their retries.
//
// Parsing and line formatting are pure functions (tested through the real
// command in test/watch-cli.test.ts); runWatch() is the I/O around them.

import { parseArgs } from 'node:util';
import {
  type CollectionChange,
  CursorExpiredError,
  HttpError,
  IfMatchClient,
  type WatchEvent,
} from '@ifmatch/client';
import { parseOrExit } from './usage.js';

export const WATCH_HELP = `Usage: ifmatch watch URL [options]

Prints each new version of a document, or each change of a collection, as it
happens, until Ctrl-C.

  URL of a document    http://HOST/api/{collection}/{id}
                       one line per version: TIME ETAG JSON (the current
                       version first), "TIME deleted" when it is deleted
                       ("TIME not found" when it does not exist yet)
  URL of a collection  http://HOST/api/{collection}
                       one line per change, in commit order:
                       TIME ID ETAG CURSOR, or TIME ID deleted CURSOR
                       (from now, or after --since)

Options:
  --since CURSOR  collection: the changes after CURSOR (a CURSOR printed
                  earlier, the "cursor" of a listing, or 0 for the oldest
                  change the server keeps); default: from now
  --wait S        seconds each request may be held by the server (Prefer:
                  wait; default 30, the server caps it; 0 = plain polling)
  --token TOKEN   send Authorization: Bearer TOKEN (env IFMATCH_TOKEN), for
                  a server run with --auth
  --pretty        indent the JSON of a document over several lines
  -h, --help      this text

TIME is when the change arrived (UTC). Network errors and 5xx answers are
retried (reported on stderr); Ctrl-C or SIGTERM ends it.

Exit status: 0 ended by Ctrl-C/SIGTERM; 1 the server refused (401, 403,
410 cursor expired, ...); 2 usage error.`;

export type WatchTarget =
  | { kind: 'document'; url: string }
  | { kind: 'collection'; url: string; since: string | undefined };

export interface WatchOptions {
  target: WatchTarget;
  wait: number;
  token: string | undefined;
  pretty: boolean;
}

export class UsageError extends Error {}

/** A document or a collection, from the path: `/api/{c}/{id}` or `/api/{c}`. */
export function targetOf(text: string, since: string | undefined): WatchTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`not an http(s) URL: "${text}"`);
  if (url.search !== '' || url.hash !== '')
    throw new UsageError('the URL takes no query or fragment (give a cursor with --since)');
  const segments = url.pathname.replace(/\/+$/, '').split('/');
  const api = segments.lastIndexOf('api');
  const rest = api === -1 ? [] : segments.slice(api + 1);
  if (rest.length === 1 && rest[0] !== '') return { kind: 'collection', url: url.href, since };
  if (rest.length === 2 && rest[0] !== '' && rest[1] !== '') {
    if (since !== undefined) throw new UsageError('--since is for a collection URL');
    return { kind: 'document', url: url.href };
  }
  throw new UsageError(
    `not a document or collection URL (…/api/{collection}[/{id}]): "${url.pathname}"`,
  );
}

export function parseWatchArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): WatchOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      since: { type: 'string' },
      wait: { type: 'string' },
      token: { type: 'string' },
      pretty: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? 'URL is required' : 'one URL only');
  const since = values.since;
  if (since !== undefined && !/^\S+$/.test(since)) throw new UsageError('--since: empty cursor');
  let wait = 30;
  if (values.wait !== undefined) {
    if (!/^\d{1,5}$/.test(values.wait))
      throw new UsageError(`--wait must be a whole number of seconds, got "${values.wait}"`);
    wait = Number(values.wait);
  }
  const token = values.token ?? (env.IFMATCH_TOKEN || undefined);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token))
    throw new UsageError('--token: printable characters without spaces');
  return {
    target: targetOf(positionals[0]!, since),
    wait,
    token,
    pretty: values.pretty ?? false,
  };
}

/** One line (or, with pretty, a few) for a document's event. */
export function formatVersion(
  event: WatchEvent<unknown>,
  at: Date,
  first: boolean,
  pretty: boolean,
): string {
  const time = at.toISOString();
  if (event.deleted) return `${time} ${first ? 'not found' : 'deleted'}\n`;
  const json = JSON.stringify(event.value, null, pretty ? 2 : undefined);
  return `${time} ${event.etag ?? '(no etag)'}${pretty ? '\n' : ' '}${json}\n`;
}

/** One line for a change of a collection's feed. */
export function formatChange(change: CollectionChange, at: Date): string {
  const what = change.deleted ? 'deleted' : (change.etag ?? '(no etag)');
  return `${at.toISOString()} ${change.id} ${what} ${change.cursor}\n`;
}

/**
 * A fetch that says on stderr when the server cannot be reached or fails (the
 * client retries those silently), once per streak, and when it answers again.
 */
function reportingFetch(say: (line: string) => void): typeof fetch {
  let failing = false;
  return async (input, init) => {
    let res: Response;
    try {
      res = await fetch(input, init);
    } catch (error) {
      if (!init?.signal?.aborted && !failing) {
        failing = true;
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        say(
          `cannot reach ${String(input)}: ${cause?.code ?? cause?.message ?? String(error)}; retrying`,
        );
      }
      throw error;
    }
    if (res.status >= 500) {
      if (!failing) say(`${String(input)} answered ${res.status}; retrying`);
      failing = true;
    } else if (failing) {
      failing = false;
      say('the server answers again');
    }
    return res;
  };
}

/** Writes to stdout; resolves once written (so a pipe's pace holds the loop). */
function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(text, (error) => (error ? reject(error) : resolve())),
  );
}

export async function runWatch(argv: string[]): Promise<number> {
  const options = parseOrExit('watch', argv, parseWatchArgs, WATCH_HELP);
  if (typeof options === 'number') return options;
  const say = (line: string) => process.stderr.write(`ifmatch watch: ${line}\n`);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // `ifmatch watch … | head`: a closed pipe ends the watch quietly.
  const onPipeError = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop.abort();
  };
  process.stdout.on('error', onPipeError);
  const client = new IfMatchClient({
    fetch: reportingFetch(say),
    cacheBytes: 64 * 1024 * 1024,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : undefined,
  });
  const { target, wait, pretty } = options;
  try {
    if (target.kind === 'document') {
      let first = true;
      for await (const event of client.watch(target.url, { signal: stop.signal, wait })) {
        await writeOut(formatVersion(event, new Date(), first, pretty));
        first = false;
      }
    } else {
      const feed = client.changes(target.url, { signal: stop.signal, wait, since: target.since });
      for await (const change of feed) await writeOut(formatChange(change, new Date()));
    }
    return 0;
  } catch (error) {
    if (stop.signal.aborted) return 0;
    if (error instanceof CursorExpiredError) {
      say(`${error.message} (the server no longer keeps changes that old: run without --since)`);
    } else if (error instanceof HttpError) {
      say(error.message);
    } else {
      say((error as Error).message);
    }
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onPipeError);
  }
}
