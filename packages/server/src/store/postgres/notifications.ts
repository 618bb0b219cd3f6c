// Change signals of the PostgreSQL store (DocumentStore.subscribe): this
// instance's own commits are signalled by the store right after COMMIT; those
// of other instances arrive here, through one dedicated connection (not from
// the pool: a pooled connection is handed to other work, and LISTEN is
// session state) doing `LISTEN ifmatch_changes`. Every write queues its
// pg_notify in its own statement (queries.ts), which PostgreSQL delivers at
// COMMIT, in commit order.
//
// The connection is opened when the first listener subscribes (a store that
// nobody subscribes to, like the CLI's tools, costs no extra connection), and
// kept until close(). Whenever LISTEN becomes active (the first time too:
// the subscriber re-checked the store before it was), and after every loss of
// the connection, listeners get `resync`: something may have been missed.

import pg from 'pg';
import type { ChangeSignal } from '../types.js';

export const CHANNEL = 'ifmatch_changes';

/** Reconnect delays: from RECONNECT_BASE_MS, doubling, capped. */
const RECONNECT_BASE_MS = 100;
const RECONNECT_CAP_MS = 5_000;
/** A query on the idle connection now and then: a silently dead TCP path shows up as a timeout. */
const HEARTBEAT_MS = 15_000;
const HEARTBEAT_TIMEOUT_MS = 5_000;

/** A query the client gives up on after `ms` (supported by pg, missing from its types). */
function timed(text: string, ms: number): pg.QueryConfig {
  const config: pg.QueryConfig & { query_timeout: number } = { text, query_timeout: ms };
  return config;
}

/** The delay before reconnect attempt `attempt` (0-based): capped exponential, with jitter. */
export function reconnectDelayMs(attempt: number, random: number = Math.random()): number {
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling * (0.5 + random / 2));
}

/**
 * A notification's payload as a signal: undefined for one of this instance's
 * own commits (already signalled after its COMMIT). Anything unreadable, or a
 * payload cut short because the key was too long (queries.ts), is a resync.
 */
export function signalOf(payload: string | undefined, ownTag: string): ChangeSignal | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload ?? '');
  } catch {
    return { kind: 'resync' };
  }
  if (!Array.isArray(parsed)) return { kind: 'resync' };
  if (parsed[0] === ownTag) return undefined;
  const [, position, collection, id] = parsed as unknown[];
  if (
    typeof collection !== 'string' ||
    typeof id !== 'string' ||
    typeof position !== 'number' ||
    !Number.isSafeInteger(position)
  ) {
    return { kind: 'resync' };
  }
  return { kind: 'change', collection, id, position };
}

/** Listeners of a store, each called on every signal; one throwing does not stop the others. */
export class SignalListeners {
  readonly #listeners = new Set<(signal: ChangeSignal) => void>();
  readonly #onError: (error: Error) => void;

  constructor(onError: (error: Error) => void) {
    this.#onError = onError;
  }

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: (signal: ChangeSignal) => void): () => void {
    // A wrapper, so one function subscribed twice is two subscriptions.
    const entry = (signal: ChangeSignal) => listener(signal);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(signal: ChangeSignal): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(signal);
      } catch (error) {
        this.#onError(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}

export interface NotificationOptions {
  url: string;
  connectionTimeoutMs: number;
  /** This store's tag in the payloads: its own notifications are skipped. */
  ownTag: string;
  emit(signal: ChangeSignal): void;
  /** The connection was lost, or could not be made: once per outage. */
  onError(error: Error): void;
}

/** The LISTEN connection: started once, reconnecting until closed. */
export class ChangeNotifications {
  readonly #options: NotificationOptions;
  #client: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #attempt = 0;
  #started = false;
  #closed = false;
  #listening = false;
  /** The current outage was reported already. */
  #reported = false;
  /** Resolves when the current connection attempt has settled (close() waits for it). */
  #connecting: Promise<void> | undefined;

  constructor(options: NotificationOptions) {
    this.#options = options;
  }

  /** Opens the connection (once; later calls do nothing). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#connecting = this.#connect();
  }

  /** LISTEN is active right now (for tests and health). */
  get listening(): boolean {
    return this.#listening;
  }

  async #connect(): Promise<void> {
    this.#retry = undefined;
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#options.url,
      connectionTimeoutMillis: this.#options.connectionTimeoutMs,
      keepAlive: true,
      application_name: 'ifmatch-listen',
    });
    let gone = false;
    const lost = (error: unknown) => {
      if (gone) return;
      gone = true;
      this.#listening = false;
      this.#stopHeartbeat();
      if (this.#client === client) this.#client = undefined;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.#closed) return;
      if (!this.#reported) {
        this.#reported = true;
        const reason = error instanceof Error ? error.message : 'the connection ended';
        this.#options.onError(new Error(`change notifications: ${reason}; reconnecting`));
      }
      this.#schedule();
    };
    // Always a listener: an 'error' without one would crash the process.
    client.on('error', lost);
    client.on('end', () => lost(undefined));
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL) return;
      const signal = signalOf(message.payload, this.#options.ownTag);
      if (signal !== undefined) this.#options.emit(signal);
    });
    this.#client = client;
    try {
      await client.connect();
      // Bounded like connecting: a database that accepts but never answers is an outage too.
      await client.query(timed(`LISTEN ${CHANNEL}`, this.#options.connectionTimeoutMs));
    } catch (error) {
      lost(error);
      return;
    }
    if (gone) return;
    if (this.#closed) {
      lost(undefined);
      return;
    }
    this.#attempt = 0;
    this.#reported = false;
    this.#listening = true;
    this.#startHeartbeat(client, lost);
    // Commits between the subscriber's re-check (or the outage) and now were not heard.
    this.#options.emit({ kind: 'resync' });
  }

  #schedule(): void {
    if (this.#closed || this.#retry !== undefined) return;
    const delay = reconnectDelayMs(this.#attempt++);
    this.#retry = setTimeout(() => {
      this.#connecting = this.#connect();
    }, delay);
    this.#retry.unref();
  }

  #startHeartbeat(client: pg.Client, lost: (error: unknown) => void): void {
    this.#stopHeartbeat();
    this.#heartbeat = setInterval(() => {
      // Any failure here (a timeout included) means this connection cannot be trusted.
      client.query(timed('SELECT 1', HEARTBEAT_TIMEOUT_MS)).catch(lost);
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Ends the connection and every timer; nothing reconnects afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#stopHeartbeat();
    await this.#connecting?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) {
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
    }
  }
}
