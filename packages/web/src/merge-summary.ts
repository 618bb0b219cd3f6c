// What a three-way merge of base / mine / theirs does, as the views show it:
// the merged value, the paths it takes from each side, and the paths both
// sides changed (those need the person). The one place the banner, the
// conflict view and "Merge automatically" get these lists from.
import { isPrefix, type JsonPath, merge3 } from './json-diff.js';

export interface MergeSummary {
  /** Both sides' changes; where both changed one path, mine (see `conflicts`). */
  merged: unknown;
  /** Every path I changed / they changed (relative to base), conflicts included. */
  mineChanged: JsonPath[];
  theirsChanged: JsonPath[];
  /** Paths only I changed (the merge takes mine) / only they changed (theirs). */
  fromMine: JsonPath[];
  fromTheirs: JsonPath[];
  /** Paths both changed to different values: no automatic merge. */
  conflicts: JsonPath[];
}

export function summarizeMerge(base: unknown, mine: unknown, theirs: unknown): MergeSummary {
  const {
    merged,
    conflicts,
    mine: mineChanged,
    theirs: theirsChanged,
  } = merge3(base, mine, theirs);
  const outside = (p: JsonPath) => !conflicts.some((c) => isPrefix(c, p));
  return {
    merged,
    mineChanged,
    theirsChanged,
    fromMine: mineChanged.filter(outside),
    fromTheirs: theirsChanged.filter(outside),
    conflicts,
  };
}

/** A merge needs no person when no path was changed on both sides. */
export const mergesCleanly = (s: MergeSummary): boolean => s.conflicts.length === 0;
