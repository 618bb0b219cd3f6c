// The change log's retention on PostgreSQL: changes older than
// changeRetentionMs are pruned by a timer in every instance, a prefix of each
// collection's log at a time, recording how far in pruned_through (queries.ts,
// PRUNE_CHANGES). Several instances may try at once: a transaction-scoped
// advisory lock lets one of them prune and the others skip that round, so two
// pruners never lock the same rows in different orders (no deadlock) and the
// database does the work once.

import type pg from 'pg';
import { pruneIntervalMs } from '../retention.js';
import { PRUNE_CHANGES } from './queries.js';

/** pg_try_advisory_xact_lock key: one pruner at a time across instances. */
const PRUNE_LOCK = 0x1f3a7c02;
/** Changes looked at per round, so one transaction holds the collection rows briefly. */
const PRUNE_BATCH = 5_000;
/** Rounds per run at most; what is left waits for the next run. */
const MAX_ROUNDS = 20;

/**
 * One round on `client`: prunes up to PRUNE_BATCH old changes unless another
 * instance is pruning. Resolves to how many changes were looked at (PRUNE_BATCH:
 * more may be left), or -1 when another instance holds the lock.
 */
export async function pruneRound(client: pg.PoolClient, retentionMs: number): Promise<number> {
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    const locked = await client.query<{ got: boolean }>(
      'SELECT pg_try_advisory_xact_lock($1) AS got',
      [PRUNE_LOCK],
    );
    if (locked.rows[0]?.got !== true) {
      await client.query('ROLLBACK');
      return -1;
    }
    const { rows } = await client.query<{ looked_at: number }>(PRUNE_CHANGES, [
      Math.floor(retentionMs),
      PRUNE_BATCH,
    ]);
    await client.query('COMMIT');
    return rows[0]?.looked_at ?? 0;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** The retention timer of one store: `prune` runs rounds; close() stops it and waits for a run. */
export class ChangeRetention {
  readonly #timer: NodeJS.Timeout;
  readonly #round: () => Promise<number>;
  readonly #onError: (error: unknown) => void;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(
    retentionMs: number,
    round: () => Promise<number>,
    onError: (error: unknown) => void,
  ) {
    this.#round = round;
    this.#onError = onError;
    // Unref'd: a store nobody closed must not keep the process alive for it.
    this.#timer = setInterval(() => {
      if (this.#running === undefined)
        this.#running = this.run().finally(() => {
          this.#running = undefined;
        });
    }, pruneIntervalMs(retentionMs));
    this.#timer.unref();
  }

  /** Prunes what is due now (several rounds when there is much); errors go to onError. */
  async run(): Promise<void> {
    try {
      for (let round = 0; round < MAX_ROUNDS && !this.#closed; round++) {
        if ((await this.#round()) < PRUNE_BATCH) return;
      }
    } catch (error) {
      this.#onError(error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running;
  }
}
