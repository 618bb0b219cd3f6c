// The change log's retention, as every store keeps it: how long changes stay
// (the default of changeRetentionMs and --change-retention) and how often a
// store prunes them.

/** 7 days. */
export const DEFAULT_CHANGE_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** How often the retention runs: a quarter of it, at most a minute (at least 1 ms). */
export function pruneIntervalMs(retentionMs: number): number {
  return Math.max(1, Math.min(Math.floor(retentionMs / 4), 60_000));
}
