// Running a unit of work on a pooled connection: which failures are retried on
// a fresh connection (nothing can have committed), which are not (a COMMIT
// whose answer never came), and how such an unknown outcome is resolved.

import type pg from 'pg';
import { type StoredValidators, StoreUnavailableError } from '../types.js';
import { isClientTimeout, isConnectionLost, isRetryableConflict, toStoreError } from './pool.js';

/** A write that keeps losing races (or connections) gives up with a 503. */
const MAX_ATTEMPTS = 5;

/** Lost the race to create an absent row: roll back and run the transaction again. */
export class RetryTransaction extends Error {}

/** Set by the work just before COMMIT: from then on, the outcome may be unknown. */
export interface AttemptState {
  committing: boolean;
}

/**
 * Runs fn on a pooled connection. A connection lost before anything could
 * have committed is retried on a fresh one (the pool may hand out a
 * connection whose backend was just terminated), and so are RetryTransaction
 * and serialization failures; `state.committing` says when that is no longer
 * safe. Unavailability comes out as StoreUnavailableError.
 */
export async function withRetries<T>(
  pool: pg.Pool,
  retryAfterSeconds: number,
  fn: (client: pg.PoolClient, state: AttemptState) => Promise<T>,
): Promise<T> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      // Refused or timed out waiting for a free connection: retrying now
      // would only queue more work on a struggling database.
      throw toStoreError(error, retryAfterSeconds);
    }
    const state = { committing: false };
    let broken: Error | undefined;
    try {
      return await fn(client, state);
    } catch (error) {
      lastError = error;
      if (isConnectionLost(error)) broken = error instanceof Error ? error : new Error('lost');
      const retry =
        error instanceof RetryTransaction ||
        // The outcome of a COMMIT whose answer never came is unknown: never
        // re-run the write (it may have happened); report 503 instead.
        (!state.committing &&
          ((broken !== undefined && !isClientTimeout(error)) || isRetryableConflict(error)));
      if (!retry) throw toStoreError(error, retryAfterSeconds);
    } finally {
      client.release(broken);
    }
  }
  throw lastError instanceof RetryTransaction
    ? new StoreUnavailableError('the write kept losing races to concurrent writers', {
        retryAfterSeconds,
      })
    : toStoreError(lastError, retryAfterSeconds);
}

/**
 * One READ COMMITTED transaction: work, then COMMIT (ROLLBACK if work fails).
 * `committing` receives the result just before COMMIT is sent, so a caller
 * whose COMMIT answer is lost still knows what it tried to commit.
 */
export async function transaction<T>(
  client: pg.PoolClient,
  state: AttemptState,
  work: () => Promise<T>,
  committing: (result: T) => void,
): Promise<T> {
  // Explicit, so a database whose default is SERIALIZABLE behaves the same.
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  state.committing = true;
  committing(result);
  await client.query('COMMIT');
  return result;
}

/**
 * The answer to a COMMIT was lost: did it happen? Our ETag (from a fresh
 * sequence value) being current proves it did; anything else stays unknown (503).
 */
export async function commitLanded(
  error: unknown,
  etag: string,
  current: () => Promise<StoredValidators | undefined>,
): Promise<boolean> {
  if (!(error instanceof StoreUnavailableError)) return false;
  const now = await current().catch(() => undefined);
  return now?.etag === etag;
}
