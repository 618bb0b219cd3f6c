// The writer of one Server-Sent Events response (text/event-stream, WHATWG
// HTML 9.2). Its `body` is handed to Fastify's reply.send, so the response
// goes through the same hooks (CORS, auth's caching fields, the request log)
// as any other; the writer only frames events and watches memory: the bytes
// waiting for the reader (in the stream and in the socket) never pass
// `maxBuffered` (past it the stream is dropped), and a writer that respects
// drain() stays under half of it, dropping a reader that stalls.

import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/** Event fields must not carry line breaks (they would end the field). */
function oneLine(text: string): string {
  return /[\r\n]/.test(text) ? text.replace(/[\r\n]+/g, ' ') : text;
}

/** How often drain() looks at the buffer while it waits for the reader. */
const DRAIN_POLL_MS = 10;

export class EventStream {
  /** The response body: pass to reply.send. */
  readonly body: Readable;
  #res: ServerResponse;
  #maxBuffered: number;
  #closed = false;
  #onClose: Array<() => void> = [];

  constructor(res: ServerResponse, maxBuffered: number) {
    this.#res = res;
    this.#maxBuffered = maxBuffered;
    // Nothing to pull: data is pushed as changes commit.
    this.body = new Readable({ read() {} });
    const closed = () => this.#close();
    res.once('close', closed);
    this.body.once('close', closed);
    // Fastify writes the header fields with the first bytes: send some now,
    // so the client sees the 200 before the first change.
    this.#push(': ok\n\n');
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes written but not yet taken by the client's socket. */
  get buffered(): number {
    return this.body.readableLength + this.#res.writableLength;
  }

  /** Called once, when the stream ends for any reason (end, drop, client gone). */
  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#onClose.push(listener);
  }

  /** One event; false when the stream is closed (or was just dropped as too slow). */
  event(id: string, event: string, data: string): boolean {
    return this.#push(`id: ${oneLine(id)}\nevent: ${oneLine(event)}\ndata: ${oneLine(data)}\n\n`);
  }

  /**
   * Sets the id a reconnection sends back as Last-Event-ID, without an event
   * (HTML 9.2.6: an event with an id and no data only updates it).
   */
  position(id: string): boolean {
    return this.#push(`id: ${oneLine(id)}\n\n`);
  }

  /** How long the client should wait before reconnecting (the `retry` field), ms. */
  retry(ms: number): boolean {
    return this.#push(`retry: ${Math.floor(ms)}\n\n`);
  }

  /** A comment line (heartbeat): keeps proxies from closing an idle stream. */
  comment(text: string): boolean {
    return this.#push(`: ${oneLine(text)}\n\n`);
  }

  /** Ends the response normally (shutdown): the client may reconnect with Last-Event-ID. */
  end(): void {
    if (this.#closed) return;
    this.body.push(null);
    this.#close();
  }

  /** Drops the connection (too slow a reader, or an error after the header was sent). */
  drop(): void {
    if (this.#closed) return;
    this.#close();
    this.body.destroy();
    this.#res.destroy();
  }

  /**
   * Waits until at most `bytes` wait for the reader. true: go on writing;
   * false: the stream closed, or the reader took nothing for `stallMs` (it is
   * then dropped). How a catch-up keeps pace with its reader instead of
   * filling memory: the change log, not this process, holds what it has not
   * read yet.
   */
  async drain(bytes: number, stallMs: number): Promise<boolean> {
    // Polled, not event-driven: a 'data' listener would start the body
    // flowing to itself (losing bytes) before Fastify pipes it, and 'drain'
    // only covers the response's part of the buffer.
    let last = this.buffered;
    let since = Date.now();
    while (!this.#closed && this.buffered > bytes) {
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
      const now = this.buffered;
      if (now < last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since >= stallMs) {
        this.drop();
        return false;
      }
    }
    return !this.#closed;
  }

  #push(text: string): boolean {
    if (this.#closed) return false;
    this.body.push(text);
    if (this.buffered > this.#maxBuffered) {
      this.drop();
      return false;
    }
    return true;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#onClose.splice(0)) listener();
  }
}
