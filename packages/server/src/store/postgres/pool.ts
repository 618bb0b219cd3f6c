// The connection pool, and what its errors mean: "the database cannot serve us
// right now" (a 503 that heals by itself) versus a real error, and whether the
// connection itself is gone.

import pg from 'pg';
import { StoreUnavailableError } from '../types.js';
import type { PostgresSettings } from './settings.js';

export function createPool(url: string, settings: PostgresSettings): pg.Pool {
  const statementTimeout = settings.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.poolSize,
    connectionTimeoutMillis: settings.connectionTimeoutMs,
    idleTimeoutMillis: settings.idleTimeoutMs,
    statement_timeout: statementTimeout,
    // The client gives up a little after the server would have, in case the
    // server (or the network to it) no longer answers at all.
    query_timeout: statementTimeout + 2000,
    // A process stuck mid-transaction must not hold row locks forever.
    idle_in_transaction_session_timeout: statementTimeout * 2,
    application_name: 'ifmatch',
  });
  // An idle pooled connection that dies (pg_terminate_backend, restart) is
  // reported here; without a listener Node would crash the process.
  pool.on('error', (error) => settings.onError(error));
  // A checked-out connection that dies emits 'error' on the client as well
  // as rejecting its query: the rejection is handled where it is awaited.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

// SQLSTATEs meaning "the database cannot serve us right now", not "bad request".
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '57014', // query_canceled: statement_timeout (a lock held too long)
  '55P03', // lock_not_available
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '25P03', // idle_in_transaction_session_timeout
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The connection itself is gone: nothing more can happen on it. */
export function isConnectionLost(error: unknown): boolean {
  const code = errorCode(error);
  if (code !== undefined && (code.startsWith('08') || NETWORK_CODES.has(code))) return true;
  if (code === '57P01' || code === '57P02' || code === '57P03') return true;
  const message = error instanceof Error ? error.message : '';
  // node-postgres reports these without a code.
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|ECONNREFUSED/.test(
    message,
  );
}

function isUnavailable(error: unknown): boolean {
  const code = errorCode(error);
  return (code !== undefined && UNAVAILABLE_CODES.has(code)) || isConnectionLost(error);
}

/** The database stopped answering: waiting that long again would only double the wait. */
export function isClientTimeout(error: unknown): boolean {
  return error instanceof Error && /Query read timeout/.test(error.message);
}

/** Lost to a concurrent transaction: running it again may well succeed. */
export function isRetryableConflict(error: unknown): boolean {
  const code = errorCode(error);
  return code === '40001' || code === '40P01';
}

/** An "unavailable" error as StoreUnavailableError (503 with Retry-After); any other unchanged. */
export function toStoreError(error: unknown, retryAfterSeconds: number): unknown {
  if (error instanceof StoreUnavailableError || !isUnavailable(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`PostgreSQL is unavailable: ${reason}`, {
    cause: error,
    retryAfterSeconds,
  });
}
