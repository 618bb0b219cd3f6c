import type Database from 'better-sqlite3';

/** Change rows removed per transaction, so the write lock is held briefly. */
const PRUNE_BATCH = 5000;

/**
 * The change log's retention. Prunes a prefix of the log (in position order)
 * whose rows are all older than the retention, and raises each collection's
 * pruned_through to the highest position removed from it, in the same
 * transaction: the log kept is always everything after pruned_through. A row
 * recorded later than a newer position (clocks of two processes) just keeps
 * the rows after it a little longer.
 */
export function changeRetention(
  db: Database.Database,
  retentionMs: number,
): { prune(now: number): boolean } {
  const oldest = db
    .prepare<[], number>('SELECT position FROM changes ORDER BY position LIMIT 1')
    .pluck();
  const firstKept = db
    .prepare<[number], number>(
      'SELECT position FROM changes WHERE last_modified_ms >= ? ORDER BY position LIMIT 1',
    )
    .pluck();
  const newest = db.prepare<[], number | null>('SELECT MAX(position) FROM changes').pluck();
  const batchEnd = db
    .prepare<[], number>(
      `SELECT position FROM changes ORDER BY position LIMIT 1 OFFSET ${PRUNE_BATCH - 1}`,
    )
    .pluck();
  const raise = db.prepare<[number]>(
    `UPDATE collections SET pruned_through = max(pruned_through, pruned.through)
     FROM (SELECT collection, MAX(position) AS through FROM changes WHERE position <= ? GROUP BY collection) AS pruned
     WHERE collections.name = pruned.collection`,
  );
  const remove = db.prepare<[number]>('DELETE FROM changes WHERE position <= ?');

  /** The last position of the prunable prefix, or undefined when there is none. */
  function prunableThrough(cutoff: number): number | undefined {
    const first = oldest.get();
    if (first === undefined) return undefined;
    const kept = firstKept.get(cutoff);
    if (kept === first) return undefined;
    return kept === undefined ? (newest.get() ?? undefined) : kept - 1;
  }

  const batch = db.transaction((cutoff: number): boolean => {
    const through = prunableThrough(cutoff);
    if (through === undefined) return false;
    const end = batchEnd.get();
    const upTo = end !== undefined && end < through ? end : through;
    raise.run(upTo);
    remove.run(upTo);
    return upTo < through;
  });

  return {
    /** One batch; true when more is left to prune. */
    prune(now) {
      const cutoff = now - retentionMs;
      // A read first: most runs find nothing and need no write lock.
      if (prunableThrough(cutoff) === undefined) return false;
      return batch.immediate(cutoff);
    },
  };
}
