// What the live-change tests (long-poll, change feed, Server-Sent Events)
// share: polling for a condition, and an event-stream reader on its own
// connection. One-shot requests on their own connection are ./http.ts.
import { request } from 'node:http';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `ok()` holds (or fails the test after `ms`). */
export async function until(ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`condition not reached in ${ms} ms: ${ok}`);
    await sleep(5);
  }
}

/** One entry of a collection's change feed (CONTRACT.md "Live changes"). */
export interface Change {
  id: string;
  etag?: string;
  lastModified: string;
  deleted: boolean;
}

export interface StreamEvent {
  id: string;
  event: string;
  data: Change;
}

/**
 * Reads an event stream's text as it arrives, on its own connection (no pool:
 * an aborted fetch makes undici open a spare connection that holds the
 * server's close()); `events()` parses what came so far.
 */
export function openEvents(url: string, headers: Record<string, string> = {}) {
  let text = '';
  let status = 0;
  let responseHeaders: Record<string, string | string[] | undefined> = {};
  let ended = false;
  let req: ReturnType<typeof request> | undefined;
  const done = new Promise<void>((resolve) => {
    req = request(url, {
      headers: { accept: 'text/event-stream', ...headers },
      agent: false,
    });
    req.on('error', () => resolve());
    req.on('response', (incoming) => {
      status = incoming.statusCode!;
      responseHeaders = incoming.headers;
      incoming.setEncoding('utf8');
      incoming.on('data', (chunk: string) => {
        text += chunk;
      });
      incoming.on('end', () => {
        ended = true;
        resolve();
      });
      incoming.on('error', () => resolve());
      incoming.on('close', () => resolve());
    });
    req.end();
  });
  return {
    done,
    get status() {
      return status;
    },
    header(name: string) {
      return responseHeaders[name];
    },
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
    /** Dispatched events (those with data) in order; an event is dispatched at its blank line. */
    events(): StreamEvent[] {
      const out: StreamEvent[] = [];
      // The last block has no blank line after it yet: still arriving.
      for (const block of text.split('\n\n').slice(0, -1)) {
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':') || line === '') continue;
          const colon = line.indexOf(':');
          fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
        }
        if (fields.data !== undefined) {
          out.push({ id: fields.id!, event: fields.event!, data: JSON.parse(fields.data) });
        }
      }
      return out;
    },
    close: () => req?.destroy(),
  };
}
