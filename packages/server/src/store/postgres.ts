// The PostgreSQL store: several server instances share one database, so every
// input to a response (ETags, Last-Modified, collection counters) lives in it.
//
// Concurrency: READ COMMITTED, the row locked with SELECT … FOR UPDATE, decide()
// run in JS while the lock is held, then one data-modifying statement that also
// bumps the collection counter, then COMMIT. See docs/SCALING.md for why.
//
// The parts, in postgres/: settings.ts (options, environment), pool.ts (the
// pool, what its errors mean), migrations.ts (the schema), transactions.ts
// (retries, COMMIT outcomes), queries.ts (the SQL), shared-lookups.ts (reads
// that arrive together share one statement), change-log.ts (the change log's
// retention), notifications.ts (signals of other instances' commits).

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { collectionETag, documentETag } from './etag.js';
import { newId } from './new-id.js';
import { ChangeRetention, pruneRound } from './postgres/change-log.js';
import { DocumentQueues, type Turn } from './postgres/document-queue.js';
import { migrate } from './postgres/migrations.js';
import { ChangeNotifications, SignalListeners } from './postgres/notifications.js';
import { createPool, isConnectionLost, toStoreError } from './postgres/pool.js';
import {
  CHANGES_PAGE,
  type ChangeRow,
  type CollectionRow,
  type CurrentRow,
  DELETE_DOC,
  type DocumentRow,
  INSERT_DOC,
  type KeyedRow,
  LIST_PAGE,
  type ListRow,
  NEXT_VERSION,
  NOTIFY_CHANGE,
  notifyPayload,
  SELECT_COLLECTION,
  SELECT_DOCUMENTS_MANY,
  SELECT_FOR_UPDATE,
  SELECT_VALIDATORS_MANY,
  toValidators,
  UPDATE_DOC,
  type ValidatorRow,
  type WrittenRow,
} from './postgres/queries.js';
import { type PostgresStoreOptions, resolveSettings } from './postgres/settings.js';
import { lookupKey, SharedLookups } from './postgres/shared-lookups.js';
import {
  type AttemptState,
  commitLanded,
  RetryTransaction,
  transaction,
  withRetries,
} from './postgres/transactions.js';
import {
  type ChangePage,
  type ChangeSignal,
  ChangesExpiredError,
  type DocKey,
  type DocumentStore,
  type ListPage,
  type StoredChange,
  type StoredDocument,
  type StoredValidators,
  StoreUnavailableError,
  type WriteDecider,
  type WriteOutcome,
} from './types.js';

export type { PostgresStoreOptions } from './postgres/settings.js';

/** What a statement was sent for: the label of `ifmatch_store_queries_total{op}`. */
export type StoreOp =
  | 'validators'
  | 'read'
  | 'write'
  | 'create'
  | 'list'
  | 'collection'
  | 'changes'
  | 'prune'
  | 'ready';

/** Counts every statement sent on `client` (retries, BEGIN and COMMIT included). */
function counting(client: pg.PoolClient, count: () => void): pg.PoolClient {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'query') {
        return (...args: Parameters<pg.PoolClient['query']>) => {
          count();
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export class PostgresStore implements DocumentStore {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #retryAfter: number;
  readonly #queries = new Map<StoreOp, number>();
  readonly #validators: SharedLookups<StoredValidators>;
  readonly #documents: SharedLookups<StoredDocument>;
  readonly #writeQueues = new DocumentQueues();
  /** This object's name in its notifications, so it skips its own (signalled after COMMIT). */
  readonly #tag = randomBytes(9).toString('base64url');
  readonly #listeners: SignalListeners;
  readonly #notifications: ChangeNotifications;
  readonly #retention: ChangeRetention;
  readonly #retentionMs: number;
  /** Resolves to the database's identity once the schema is there. */
  #schema: Promise<string> | undefined;
  #closed = false;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    const settings = resolveSettings(options);
    this.#retryAfter = settings.retryAfterSeconds;
    this.#retentionMs = settings.changeRetentionMs;
    this.#pool = createPool(url, settings);
    this.#listeners = new SignalListeners(settings.onError);
    this.#notifications = new ChangeNotifications({
      url: settings.listenUrl ?? url,
      connectionTimeoutMs: settings.connectionTimeoutMs,
      ownTag: this.#tag,
      emit: (signal) => this.#listeners.emit(signal),
      onError: settings.onError,
    });
    this.#retention = new ChangeRetention(
      settings.changeRetentionMs,
      () => this.pruneChanges(),
      (error) => {
        // An outage is reported by the requests that meet it; this just tries again later.
        if (error instanceof StoreUnavailableError || isConnectionLost(error)) return;
        settings.onError(error instanceof Error ? error : new Error(String(error)));
      },
    );
    this.#validators = new SharedLookups(
      (keys) =>
        this.#lookup<KeyedRow<ValidatorRow>, StoredValidators>(
          'validators',
          SELECT_VALIDATORS_MANY,
          keys,
          (row) => toValidators(row.etag, row.last_modified, row.size),
        ),
      settings.readsInFlight,
    );
    this.#documents = new SharedLookups(
      (keys) =>
        this.#lookup<KeyedRow<DocumentRow>, StoredDocument>(
          'read',
          SELECT_DOCUMENTS_MANY,
          keys,
          (row) => ({
            ...toValidators(row.etag, row.last_modified, row.body.length),
            body: row.body,
          }),
        ),
      settings.readsInFlight,
    );
  }

  /**
   * Statements sent to the database so far, by what they were for (every
   * attempt counts). /metrics exposes them as `ifmatch_store_queries_total{op}`.
   */
  queryCounts(): ReadonlyMap<string, number> {
    return this.#queries;
  }

  /**
   * Creates or migrates the schema (migrations.ts). Run again on the next call
   * if it failed (the database was down at start).
   */
  ensureSchema(): Promise<string> {
    if (this.#schema === undefined) {
      this.#schema = migrate(this.#pool, this.#retryAfter).catch((error: unknown) => {
        this.#schema = undefined;
        throw error;
      });
    }
    return this.#schema;
  }

  /**
   * fn on a pooled connection, once the schema is there, with the retries of
   * transactions.ts; its statements are counted under `op`.
   */
  async #withClient<T>(
    op: StoreOp,
    fn: (client: pg.PoolClient, state: AttemptState) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the store is closed');
    try {
      await this.ensureSchema();
    } catch (error) {
      throw toStoreError(error, this.#retryAfter);
    }
    const count = () => this.#queries.set(op, (this.#queries.get(op) ?? 0) + 1);
    return withRetries(this.#pool, this.#retryAfter, (client, state) =>
      fn(counting(client, count), state),
    );
  }

  /** One statement answering many keys (shared-lookups.ts): found rows by lookupKey. */
  #lookup<R extends KeyedRow<object>, V>(
    op: StoreOp,
    query: { name: string; text: string },
    keys: DocKey[],
    toValue: (row: R) => V,
  ): Promise<Map<string, V>> {
    return this.#withClient(op, async (client) => {
      const { rows } = await client.query<R>({
        ...query,
        values: [keys.map((k) => k.collection), keys.map((k) => k.id)],
      });
      const found = new Map<string, V>();
      for (const row of rows) found.set(lookupKey(row.collection, row.id), toValue(row));
      return found;
    });
  }

  /** Lookups that arrive together share one statement, sent after all of them arrived. */
  validators(key: DocKey): Promise<StoredValidators | undefined> {
    return this.#validators.get(key);
  }

  read(key: DocKey): Promise<StoredDocument | undefined> {
    return this.#documents.get(key);
  }

  /**
   * Writes to one document from this instance take turns (document-queue.ts);
   * one that waited while the write ahead committed is refused off that state
   * when its precondition fails there, without a round trip.
   */
  write<R>(key: DocKey, decide: WriteDecider<R>): Promise<WriteOutcome<R>> {
    return this.#writeQueues.run(lookupKey(key.collection, key.id), async (turn) => {
      const last = turn.last();
      if (last !== undefined && turn.arrived <= last.at) {
        const decision = decide(last.state);
        if (decision.action === 'refuse') {
          return { action: 'refuse', current: last.state, result: decision.result };
        }
      }
      return this.#writeNow(key, decide, turn);
    });
  }

  async #writeNow<R>(key: DocKey, decide: WriteDecider<R>, turn: Turn): Promise<WriteOutcome<R>> {
    let committing: WriteOutcome<R> | undefined;
    let after: StoredDocument | undefined;
    let position = 0;
    let commitAt = 0;
    const landed = (outcome: WriteOutcome<R>) => {
      if (outcome.action === 'put' || (outcome.action === 'delete' && outcome.previous)) {
        turn.committed(after, commitAt);
        this.#signal(key, position);
      }
      return outcome;
    };
    try {
      const outcome = await this.#withClient('write', async (client, state) => {
        const done = await transaction(
          client,
          state,
          () =>
            this.#decideAndApply(client, key, decide, (state, at) => {
              after = state;
              position = at;
            }),
          (outcome) => {
            committing = outcome;
            commitAt = turn.committing();
          },
        );
        await this.#notify(client, key, position);
        return done;
      });
      return landed(outcome);
    } catch (error) {
      const put = committing?.action === 'put' ? committing : undefined;
      if (
        put !== undefined &&
        (await commitLanded(error, put.doc.etag, () => this.validators(key)))
      ) {
        return landed(put);
      }
      // The COMMIT's outcome is unknown: signal it anyway (a needless wake-up
      // is harmless; a missed one is not, and our own notification is skipped).
      if (committing !== undefined && committing.action !== 'refuse') this.#signal(key, position);
      throw error;
    }
  }

  /**
   * Tells the other instances about a commit (queries.ts, NOTIFY_CHANGE), on
   * the connection that committed it; if that fails, once more on another.
   * Never fails the write: it has committed.
   */
  async #notify(client: pg.PoolClient, key: DocKey, position: number): Promise<void> {
    if (position <= 0) return;
    const payload = notifyPayload(this.#tag, position, key.collection, key.id);
    try {
      await client.query(NOTIFY_CHANGE, [payload]);
    } catch {
      void this.#pool.query(NOTIFY_CHANGE, [payload]).catch(() => {});
    }
  }

  /** A commit of this instance, to this instance's listeners (others hear its notification). */
  #signal(key: DocKey, position: number): void {
    if (position <= 0 || this.#listeners.size === 0) return;
    this.#listeners.emit({ kind: 'change', collection: key.collection, id: key.id, position });
  }

  /**
   * `applied` receives the state the write leaves (undefined: deleted) and its
   * change's position, before COMMIT.
   */
  async #decideAndApply<R>(
    client: pg.PoolClient,
    key: DocKey,
    decide: WriteDecider<R>,
    applied: (state: StoredDocument | undefined, position: number) => void,
  ): Promise<WriteOutcome<R>> {
    const selected = await client.query<CurrentRow>(SELECT_FOR_UPDATE, [key.collection, key.id]);
    const row = selected.rows[0]!;
    const current: StoredDocument | undefined =
      row.etag === null || row.last_modified === null || row.body === null
        ? undefined
        : { ...toValidators(row.etag, row.last_modified, row.body.length), body: row.body };
    // Synchronous, while the row (if any) is locked.
    const decision = decide(current);
    const params = [key.collection, key.id];
    if (decision.action === 'refuse') {
      return { action: 'refuse', current, result: decision.result };
    }
    if (decision.action === 'delete') {
      // Nothing to delete: nothing changes (types.ts, WriteOutcome).
      if (current === undefined) {
        return { action: 'delete', previous: undefined, result: decision.result };
      }
      const deleted = await client.query<WrittenRow>(DELETE_DOC, params);
      applied(undefined, Number(deleted.rows[0]?.position ?? 0));
      return {
        action: 'delete',
        previous: toValidators(current.etag, current.lastModified, current.body.length),
        result: decision.result,
      };
    }
    const etag = documentETag(BigInt(row.version), decision.body);
    const written = await client.query<WrittenRow>(
      current === undefined ? INSERT_DOC : UPDATE_DOC,
      [...params, etag, decision.body],
    );
    const stamp = written.rows[0];
    if (stamp === undefined) throw new RetryTransaction('lost the create race');
    const doc = toValidators(etag, stamp.last_modified, decision.body.length);
    applied({ ...doc, body: decision.body }, Number(stamp.position));
    return { action: 'put', created: current === undefined, doc, result: decision.result };
  }

  async create(collection: string, body: Buffer): Promise<{ id: string } & StoredValidators> {
    let committing: ({ id: string } & StoredValidators) | undefined;
    let position = 0;
    try {
      const made = await this.#withClient('create', async (client, state) => {
        const id = newId();
        const done = await transaction(
          client,
          state,
          async () => {
            const { rows } = await client.query<{ version: string }>(NEXT_VERSION);
            const etag = documentETag(BigInt(rows[0]!.version), body);
            const written = await client.query<WrittenRow>(INSERT_DOC, [
              collection,
              id,
              etag,
              body,
            ]);
            const stamp = written.rows[0];
            // An id collision is not expected; if it happens, try another id.
            if (stamp === undefined) throw new RetryTransaction('id taken');
            position = Number(stamp.position);
            return { id, ...toValidators(etag, stamp.last_modified, body.length) };
          },
          (made) => {
            committing = made;
          },
        );
        await this.#notify(client, { collection, id }, position);
        return done;
      });
      this.#signal({ collection, id: made.id }, position);
      return made;
    } catch (error) {
      const made = committing;
      if (made === undefined) throw error;
      // Landed or unknown: signal it (see #writeNow).
      this.#signal({ collection, id: made.id }, position);
      if (
        await commitLanded(error, made.etag, () => this.validators({ collection, id: made.id }))
      ) {
        return made;
      }
      throw error;
    }
  }

  async list(collection: string, options: { after?: string; limit: number }): Promise<ListPage> {
    const limit = Math.max(0, Math.floor(options.limit));
    return this.#withClient('list', async (client) => {
      const { rows } = await client.query<ListRow>(LIST_PAGE, [
        collection,
        options.after ?? null,
        limit + 1,
      ]);
      const members = rows.filter((r) => r.id !== null);
      const items = members
        .slice(0, limit)
        .map((r) => ({ id: r.id!, ...toValidators(r.etag!, r.last_modified!) }));
      const next = members.length > limit && items.length > 0 ? items[items.length - 1]!.id : null;
      // The counter and the items come from one statement, so one snapshot.
      const collectionRow = rows[0];
      const page: ListPage = { items, position: Number(collectionRow?.version ?? 0), next };
      if (collectionRow?.version != null && collectionRow.collection_modified != null) {
        page.validators = toValidators(
          collectionETag(BigInt(collectionRow.version)),
          collectionRow.collection_modified,
        );
      }
      return page;
    });
  }

  async changes(
    collection: string,
    options: { after: number; limit: number },
  ): Promise<ChangePage> {
    const after = Math.max(0, Math.floor(options.after));
    const limit = Math.max(1, Math.floor(options.limit));
    const rows = await this.#withClient('changes', async (client) => {
      const result = await client.query<ChangeRow>(CHANGES_PAGE, [collection, after, limit]);
      return result.rows;
    });
    // Same statement as the changes: a prune commits the deletion and the mark together.
    const prunedThrough = Number(rows[0]?.pruned_through ?? 0);
    if (after > 0 && after < prunedThrough) throw new ChangesExpiredError(prunedThrough);
    const changes: StoredChange[] = [];
    for (const row of rows) {
      if (row.position === null) continue;
      const change: StoredChange = {
        position: Number(row.position),
        id: row.id!,
        lastModified: Number(row.last_modified),
        deleted: row.deleted === true,
      };
      if (row.etag !== null) change.etag = row.etag;
      changes.push(change);
    }
    return { changes, position: changes.at(-1)?.position ?? after };
  }

  subscribe(listener: (signal: ChangeSignal) => void): () => void {
    const unsubscribe = this.#listeners.add(listener);
    // Other instances' commits: the LISTEN connection, opened for the first listener.
    if (!this.#closed) this.#notifications.start();
    return unsubscribe;
  }

  async identity(): Promise<string> {
    if (this.#closed) throw new StoreUnavailableError('the store is closed');
    try {
      return await this.ensureSchema();
    } catch (error) {
      throw toStoreError(error, this.#retryAfter);
    }
  }

  /**
   * One round of the change log's retention (change-log.ts; the timer runs it):
   * how many old changes it looked at, -1 when another instance was pruning.
   */
  pruneChanges(): Promise<number> {
    return this.#withClient('prune', (client) => pruneRound(client, this.#retentionMs));
  }

  async collectionValidators(collection: string): Promise<StoredValidators | undefined> {
    return this.#withClient('collection', async (client) => {
      const { rows } = await client.query<CollectionRow>(SELECT_COLLECTION, [collection]);
      const row = rows[0];
      if (row === undefined) return undefined;
      // The counter only grows (the row is never deleted), so the tag is never reused.
      return toValidators(collectionETag(BigInt(row.version)), row.last_modified);
    });
  }

  async ready(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      await this.#withClient('ready', async (client) => client.query('SELECT 1'));
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await Promise.all([this.#retention.close(), this.#notifications.close()]);
    await this.#pool.end();
  }
}

/**
 * Opens the store for a `postgres://` or `postgresql://` URL. The schema is
 * created or migrated now; if the database is unreachable the store still
 * opens (answering 503, /healthz not ready) and migrates once it is back.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<DocumentStore> {
  const store = new PostgresStore(url, options);
  try {
    await store.ensureSchema();
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) {
      await store.close();
      throw error;
    }
  }
  return store;
}
