// The live hub: one per app. It holds the requests that wait for a change
// (document long-polls by key, feed long-polls by collection) and the open
// event streams, and wakes them from the store's signals (store.subscribe).
//
// Rules it keeps (docs/CONTRACT.md "Live changes"):
// - Subscribe, then re-check, then wait: a waiter is registered (and the hub
//   subscribed) before the store is read again, so a commit between the
//   route's first read and the registration is never missed.
// - Signals only wake; the store is the one source of truth. Woken document
//   waiters of one key share ONE validators() and at most ONE read() (single
//   flight per key, the body then shared), whatever their number; feed
//   waiters and streams at the same place share one changes() read.
// - A cap on waiters and streams per instance: beyond it the route answers at
//   once (never a 5xx). Each waiter has one timer; a client that goes away
//   removes its waiter and timer at once.
// - `resync` (signals may have been lost): everything is re-checked.
// - close() (graceful shutdown) answers every waiter at once and ends the
//   streams; a store failure while re-checking fails the waiters of that key
//   (the route's ordinary 503), it never leaves them hanging.

import type { ServerResponse } from 'node:http';
import { decideRead, type ReadRequest } from '../http/document-read.js';
import { waitPreference } from '../http/prefer.js';
import type { BodyCache } from '../http/representation.js';
import {
  type ChangePage,
  type ChangeSignal,
  ChangesExpiredError,
  type DocKey,
  type DocumentStore,
  type StoredValidators,
} from '../store/types.js';
import { cursorTag, formatCursor } from './cursor.js';
import { changeItem } from './feed.js';
import { EventStream } from './sse.js';

export interface LiveOptions {
  /** The longest `Prefer: wait` honoured, seconds (--max-wait; default 60). */
  maxWaitSeconds: number;
  /** Waiting requests + open streams per instance (--max-waiters; default 10000). */
  maxWaiters: number;
  /** A comment line on every event stream this often, ms (default 15000). */
  heartbeatMs: number;
  /**
   * Bytes that may wait for an event stream's reader (default 1 MiB): a
   * catch-up pauses at half of it until the reader takes them, a reader that
   * takes nothing for two heartbeats meanwhile is dropped, and past the whole
   * bound the stream is dropped at once.
   */
  streamBufferBytes: number;
}

export const LIVE_DEFAULTS: LiveOptions = {
  maxWaitSeconds: 60,
  maxWaiters: 10_000,
  heartbeatMs: 15_000,
  streamBufferBytes: 1024 * 1024,
};

/** Changes read per store call when a stream catches up. */
const STREAM_PAGE = 1000;
/** The store subscription outlives the last waiter this long: a client polling again right away reuses it. */
const LINGER_MS = 10_000;

export type DocumentWake =
  /** The document's state no longer gives this request a 304: decide again from `v` (and `body` when read). */
  | { kind: 'changed'; v: StoredValidators | undefined; body: Buffer | undefined }
  | { kind: 'timeout' | 'shutdown' | 'gone' };

export type FeedWake =
  | { kind: 'changes'; page: ChangePage }
  | { kind: 'timeout' | 'shutdown' | 'gone' };

type End = { kind: 'timeout' | 'shutdown' | 'gone' };

/** One held request: settles once (a wake, its timer, its client leaving, shutdown or a failure). */
class Hold<W> {
  readonly promise: Promise<W | End>;
  done = false;
  #resolve!: (w: W | End) => void;
  #reject!: (error: unknown) => void;
  #timer: NodeJS.Timeout;
  #res: ServerResponse;
  #onClose = () => this.settle({ kind: 'gone' });
  #onEnd: () => void;

  constructor(ms: number, res: ServerResponse, onEnd: () => void) {
    this.promise = new Promise<W | End>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#onEnd = onEnd;
    this.#res = res;
    this.#timer = setTimeout(() => this.settle({ kind: 'timeout' }), ms);
    res.once('close', this.#onClose);
    // Gone already (its 'close' came before this hold): do not wait for the timer.
    if (res.destroyed || res.socket?.destroyed === true) queueMicrotask(this.#onClose);
  }

  settle(w: W | End): void {
    if (this.#finish()) this.#resolve(w);
  }

  fail(error: unknown): void {
    if (this.#finish()) this.#reject(error);
  }

  #finish(): boolean {
    if (this.done) return false;
    this.done = true;
    clearTimeout(this.#timer);
    this.#res.off('close', this.#onClose);
    this.#onEnd();
    return true;
  }
}

interface DocumentWaiter extends Hold<DocumentWake> {
  read: ReadRequest;
}

interface DocumentGroup {
  key: DocKey;
  waiters: Set<DocumentWaiter>;
  /** A re-check is running; `again`: a signal came meanwhile, run once more after it. */
  running: boolean;
  again: boolean;
}

interface FeedWaiter extends Hold<FeedWake> {
  after: number;
  limit: number;
  pulling: boolean;
  again: boolean;
}

interface StreamState {
  stream: EventStream;
  collection: string;
  tag: string;
  after: number;
  pulling: boolean;
  again: boolean;
  /** The last read failed (store down): retried on the next signal or heartbeat. */
  failed: boolean;
}

const docKey = (key: DocKey) => `${key.collection}\0${key.id}`;

/** What an app tells of its live hub (`app.live`): the rest is internal. */
export interface LiveStatus {
  /** Requests held by Prefer: wait and open event streams right now. */
  readonly size: number;
}

export class LiveHub implements LiveStatus {
  readonly options: LiveOptions;
  #store: DocumentStore;
  #cache: BodyCache;
  #documents = new Map<string, DocumentGroup>();
  #feeds = new Map<string, Set<FeedWaiter>>();
  #streams = new Map<string, Set<StreamState>>();
  /** Waiters + streams. */
  #count = 0;
  #closed = false;
  #unsubscribe: (() => void) | undefined;
  #linger: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #streamCount = 0;
  #identity: Promise<string> | undefined;
  /** In-flight changes() reads by signal epoch, collection, after and limit (single flight). */
  #reads = new Map<string, Promise<ChangePage>>();
  /**
   * Signals seen so far. A reader joins an in-flight read only when no signal
   * came since that read started: a read begun before a commit must not
   * stand in for the re-check of a waiter that registered after its signal.
   */
  #epoch = 0;

  constructor(store: DocumentStore, cache: BodyCache, options: Partial<LiveOptions> = {}) {
    this.#store = store;
    this.#cache = cache;
    this.options = { ...LIVE_DEFAULTS, ...options };
    this.#paceBytes = Math.floor(this.options.streamBufferBytes / 2);
    this.#stallMs = 2 * this.options.heartbeatMs;
  }

  /** A catch-up waits for its reader once this many bytes are buffered for it. */
  #paceBytes: number;
  /** A reader that takes nothing this long while changes wait for it is dropped (two heartbeats). */
  #stallMs: number;

  /** Waiting requests and open streams right now. */
  get size(): number {
    return this.#count;
  }

  /**
   * The wait a request's Prefer field asks for, capped by maxWaitSeconds:
   * seconds, or undefined when there is nothing to wait for (no `wait`, junk,
   * or 0). The value `Preference-Applied: wait=M` names.
   */
  appliedWait(prefer: string | string[] | undefined): number | undefined {
    const asked = waitPreference(prefer);
    if (asked === undefined || asked === 0) return undefined;
    const applied = Math.min(asked, this.options.maxWaitSeconds);
    return applied > 0 ? applied : undefined;
  }

  /** The cursor tag of `collection` in this store (identity read once). */
  async tag(collection: string): Promise<string> {
    this.#identity ??= this.#store.identity().catch((error: unknown) => {
      this.#identity = undefined;
      throw error;
    });
    return cursorTag(await this.#identity, collection);
  }

  /**
   * Holds a document GET/HEAD whose answer is a 304 until that changes (the
   * same decision, document-read.ts, made for it on each wake), `seconds`
   * pass, the client leaves or the server shuts down. undefined: not held
   * (cap reached or shutting down): answer at once. Rejects on a store failure.
   */
  holdDocument(
    key: DocKey,
    read: ReadRequest,
    seconds: number,
    res: ServerResponse,
  ): Promise<DocumentWake> | undefined {
    if (!this.#admit()) return undefined;
    const k = docKey(key);
    let group = this.#documents.get(k);
    if (!group) {
      group = { key, waiters: new Set(), running: false, again: false };
      this.#documents.set(k, group);
    }
    const g = group;
    const waiter = new Hold<DocumentWake>(seconds * 1000, res, () => {
      g.waiters.delete(waiter);
      if (g.waiters.size === 0 && !g.running && this.#documents.get(k) === g) {
        this.#documents.delete(k);
      }
      this.#release();
    }) as DocumentWaiter;
    waiter.read = read;
    g.waiters.add(waiter);
    // Subscribed (in #admit) before this read: a commit from now on wakes the group.
    let current: ReturnType<DocumentStore['validators']>;
    try {
      current = this.#store.validators(key);
    } catch (error) {
      waiter.fail(error);
      return waiter.promise;
    }
    Promise.resolve(current).then(
      (v) => {
        if (decideRead(read, v).kind !== 'not-modified') {
          waiter.settle({ kind: 'changed', v, body: undefined });
        }
      },
      (error: unknown) => waiter.fail(error),
    );
    return waiter.promise;
  }

  /**
   * Holds a feed request at position `after` until changes come after it
   * (read here: the first read is the re-check after subscribing), `seconds`
   * pass, the client leaves or shutdown. undefined: not held (cap, shutdown).
   * Rejects on a store failure or ChangesExpiredError.
   */
  holdFeed(
    collection: string,
    after: number,
    limit: number,
    seconds: number,
    res: ServerResponse,
  ): Promise<FeedWake> | undefined {
    if (!this.#admit()) return undefined;
    let set = this.#feeds.get(collection);
    if (!set) {
      set = new Set();
      this.#feeds.set(collection, set);
    }
    const s = set;
    const waiter = new Hold<FeedWake>(seconds * 1000, res, () => {
      s.delete(waiter);
      if (s.size === 0 && this.#feeds.get(collection) === s) this.#feeds.delete(collection);
      this.#release();
    }) as FeedWaiter;
    Object.assign(waiter, { after, limit, pulling: false, again: false });
    s.add(waiter);
    this.#pullFeed(collection, waiter);
    return waiter.promise;
  }

  /**
   * Opens an event stream of `collection`'s changes after `after` on `res`
   * (its `body` is the reply's payload). undefined: over the cap or shutting
   * down (the route then ends the stream at once with a retry hint).
   */
  openStream(
    collection: string,
    tag: string,
    after: number,
    res: ServerResponse,
  ): EventStream | undefined {
    if (!this.#admit()) return undefined;
    const stream = new EventStream(res, this.options.streamBufferBytes);
    // A reconnection without Last-Event-ID would start "from now" again:
    // name the start, so the browser's EventSource resumes from here.
    stream.position(formatCursor(after, tag));
    let set = this.#streams.get(collection);
    if (!set) {
      set = new Set();
      this.#streams.set(collection, set);
    }
    const s = set;
    const state: StreamState = {
      stream,
      collection,
      tag,
      after,
      pulling: false,
      again: false,
      failed: false,
    };
    s.add(state);
    this.#streamCount++;
    this.#startHeartbeat();
    stream.onClose(() => {
      s.delete(state);
      if (s.size === 0 && this.#streams.get(collection) === s) this.#streams.delete(collection);
      this.#streamCount--;
      if (this.#streamCount === 0) this.#stopHeartbeat();
      this.#release();
    });
    this.#pullStream(state);
    return stream;
  }

  /** Shutdown: every waiter answered now (304 / empty page), every stream ended; no timer left. */
  close(): void {
    this.#closed = true;
    for (const group of [...this.#documents.values()]) {
      for (const w of [...group.waiters]) w.settle({ kind: 'shutdown' });
    }
    for (const set of [...this.#feeds.values()]) {
      for (const w of [...set]) w.settle({ kind: 'shutdown' });
    }
    for (const set of [...this.#streams.values()]) for (const s of [...set]) s.stream.end();
    this.#stopHeartbeat();
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  // --- admission and the store subscription

  #admit(): boolean {
    if (this.#closed || this.#count >= this.options.maxWaiters) return false;
    this.#count++;
    if (this.#linger) {
      clearTimeout(this.#linger);
      this.#linger = undefined;
    }
    this.#unsubscribe ??= this.#store.subscribe((signal) => this.#onSignal(signal));
    return true;
  }

  #release(): void {
    this.#count--;
    if (this.#count > 0 || this.#closed || this.#unsubscribe === undefined) return;
    this.#linger = setTimeout(() => {
      this.#linger = undefined;
      if (this.#count > 0) return;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
    }, LINGER_MS);
    this.#linger.unref();
  }

  #onSignal(signal: ChangeSignal): void {
    if (this.#closed) return;
    this.#epoch++;
    if (signal.kind === 'resync') {
      for (const group of this.#documents.values()) this.#wakeDocuments(group);
      for (const [collection, set] of this.#feeds) {
        for (const w of set) this.#pullFeed(collection, w);
      }
      for (const set of this.#streams.values()) for (const s of set) this.#pullStream(s);
      return;
    }
    const group = this.#documents.get(docKey(signal));
    if (group) this.#wakeDocuments(group);
    const feeds = this.#feeds.get(signal.collection);
    if (feeds) for (const w of feeds) this.#pullFeed(signal.collection, w);
    const streams = this.#streams.get(signal.collection);
    if (streams) for (const s of streams) this.#pullStream(s);
  }

  // --- documents

  #wakeDocuments(group: DocumentGroup): void {
    if (group.running) {
      group.again = true;
      return;
    }
    group.running = true;
    void this.#recheckDocuments(group);
  }

  /** One validators() for the whole group, one read() when any woken answer needs the body. */
  async #recheckDocuments(group: DocumentGroup): Promise<void> {
    try {
      do {
        group.again = false;
        const waiters = [...group.waiters];
        if (waiters.length === 0) break;
        let v = await this.#store.validators(group.key);
        let body: Buffer | undefined;
        let kinds = waiters.map((w) => decideRead(w.read, v).kind);
        if (v !== undefined && kinds.some((k) => k === 'send' || k === 'needs-size')) {
          body = this.#cache.get(v.etag);
          if (body === undefined) {
            const doc = await this.#store.read(group.key);
            if (doc) this.#cache.set(doc.etag, doc.body);
            body = doc?.body;
            v = doc && { etag: doc.etag, lastModified: doc.lastModified, size: doc.body.length };
          } else v = { ...v, size: body.length };
          // Decide again for the state actually read (a write may have landed in between).
          kinds = waiters.map((w) => decideRead(w.read, v).kind);
        }
        waiters.forEach((w, i) => {
          if (kinds[i] !== 'not-modified') w.settle({ kind: 'changed', v, body });
        });
      } while (group.again);
    } catch (error) {
      for (const w of [...group.waiters]) w.fail(error);
    } finally {
      group.running = false;
      const k = docKey(group.key);
      if (group.waiters.size === 0 && this.#documents.get(k) === group) this.#documents.delete(k);
    }
  }

  // --- the feed

  /** changes() shared by every reader at the same place (single flight). */
  #changes(collection: string, after: number, limit: number): Promise<ChangePage> {
    const k = `${this.#epoch}\0${collection}\0${after}\0${limit}`;
    let read = this.#reads.get(k);
    if (!read) {
      try {
        read = this.#store.changes(collection, { after, limit });
      } catch (error) {
        // A store that throws instead of rejecting: the same failure for the caller.
        return Promise.reject(error);
      }
      this.#reads.set(k, read);
      const forget = () => this.#reads.delete(k);
      read.then(forget, forget);
    }
    return read;
  }

  #pullFeed(collection: string, w: FeedWaiter): void {
    if (w.done) return;
    if (w.pulling) {
      w.again = true;
      return;
    }
    w.pulling = true;
    w.again = false;
    this.#changes(collection, w.after, w.limit).then(
      (page) => {
        w.pulling = false;
        if (page.changes.length > 0) w.settle({ kind: 'changes', page });
        else if (w.again) this.#pullFeed(collection, w);
      },
      (error: unknown) => {
        w.pulling = false;
        w.fail(error);
      },
    );
  }

  // --- streams

  #pullStream(s: StreamState): void {
    if (s.stream.closed) return;
    if (s.pulling) {
      s.again = true;
      return;
    }
    s.pulling = true;
    void this.#catchUp(s).finally(() => {
      s.pulling = false;
    });
  }

  /** Writes every change after the stream's position, in log order, page by page. */
  async #catchUp(s: StreamState): Promise<void> {
    try {
      let full: boolean;
      do {
        s.again = false;
        const page = await this.#changes(s.collection, s.after, STREAM_PAGE);
        if (s.stream.closed) return;
        for (const change of page.changes) {
          const data = JSON.stringify(changeItem(change));
          if (!s.stream.event(formatCursor(change.position, s.tag), 'change', data)) return;
          // Keep pace with the reader: what it has not taken yet stays in the log.
          if (
            s.stream.buffered > this.#paceBytes &&
            !(await s.stream.drain(this.#paceBytes, this.#stallMs))
          ) {
            return;
          }
        }
        s.after = page.position;
        s.failed = false;
        full = page.changes.length >= STREAM_PAGE;
      } while (full || s.again);
    } catch (error) {
      // Pruned past the stream's position: end it; the reconnection gets the 410.
      if (error instanceof ChangesExpiredError) s.stream.end();
      // Anything else (the store down): keep the stream, retry on the next signal or heartbeat.
      else s.failed = true;
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat) return;
    this.#heartbeat = setInterval(() => {
      for (const set of this.#streams.values()) {
        for (const s of set) {
          s.stream.comment('heartbeat');
          // Re-read the log at every heartbeat, not only after a failure: a
          // change whose signal never came (an instance killed between its
          // COMMIT and its NOTIFY) is then at most one heartbeat late.
          this.#pullStream(s);
        }
      }
    }, this.options.heartbeatMs);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }
}
