// The PostgreSQL store's settings: each option falls back to an environment
// variable (for deployments that start the CLI without code), then a default.

import { DEFAULT_CHANGE_RETENTION_MS } from '../retention.js';

/** Each option falls back to an environment variable (named below), then a default. */
export interface PostgresStoreOptions {
  /** Connections per process (IFMATCH_PG_POOL_SIZE, default 10; mind max_connections x instances). */
  poolSize?: number;
  /** Server-side statement_timeout, also bounds row-lock waits (IFMATCH_PG_STATEMENT_TIMEOUT_MS, default 5000). */
  statementTimeoutMs?: number;
  /** Connecting, and waiting for a free pooled connection (IFMATCH_PG_CONNECT_TIMEOUT_MS, default 3000). */
  connectionTimeoutMs?: number;
  /** Idle pooled connections are closed after this (default 30000 ms). */
  idleTimeoutMs?: number;
  /**
   * Read statements in flight at once (IFMATCH_PG_READS_IN_FLIGHT, default 2):
   * lookups arriving meanwhile share the next statement (shared-lookups.ts).
   */
  readsInFlight?: number;
  /** Sent as Retry-After with the 503 (default 1 s). */
  retryAfterSeconds?: number;
  /**
   * How long the change log keeps a change (IFMATCH_PG_CHANGE_RETENTION_MS,
   * default 7 days). Older changes are pruned; a feed cursor older than what
   * is kept gets ChangesExpiredError (HTTP 410: list again).
   */
  changeRetentionMs?: number;
  /**
   * Where the LISTEN connection for change signals goes (IFMATCH_PG_LISTEN_URL,
   * default: the store's URL). LISTEN is session state: behind PgBouncer in
   * transaction mode, point this at PostgreSQL itself (or a session-mode pool).
   */
  listenUrl?: string;
  /** Background errors (a pooled connection lost while idle). Default: one line on stderr. */
  onError?: (error: Error) => void;
}

export type PostgresSettings = Required<Omit<PostgresStoreOptions, 'listenUrl'>> & {
  /** Undefined: the store's URL. */
  listenUrl: string | undefined;
};

export function resolveSettings(options: PostgresStoreOptions): PostgresSettings {
  if (options.changeRetentionMs !== undefined && !(options.changeRetentionMs > 0)) {
    throw new RangeError('changeRetentionMs must be positive');
  }
  return {
    statementTimeoutMs:
      options.statementTimeoutMs ?? envNumber('IFMATCH_PG_STATEMENT_TIMEOUT_MS') ?? 5000,
    poolSize: options.poolSize ?? envNumber('IFMATCH_PG_POOL_SIZE') ?? 10,
    connectionTimeoutMs:
      options.connectionTimeoutMs ?? envNumber('IFMATCH_PG_CONNECT_TIMEOUT_MS') ?? 3000,
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    readsInFlight: options.readsInFlight ?? envNumber('IFMATCH_PG_READS_IN_FLIGHT') ?? 2,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
    listenUrl: options.listenUrl ?? (process.env.IFMATCH_PG_LISTEN_URL?.trim() || undefined),
    changeRetentionMs:
      options.changeRetentionMs ??
      envNumber('IFMATCH_PG_CHANGE_RETENTION_MS') ??
      DEFAULT_CHANGE_RETENTION_MS,
    onError:
      options.onError ??
      ((error: Error) => process.stderr.write(`ifmatch postgres: ${error.message}\n`)),
  };
}

/** A positive integer or unset. */
function envNumber(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}
