// Three-way merge of JSON documents: what changed between a common base and
// each side, by key path. Objects merge key by key (nested too); anything else
// (numbers, strings, arrays, null) is one value: an array edited on both sides
// is a conflict, since merging arrays by index would mix up insertions.

import { MergeConflictError } from './errors.js';
import { type JsonPath, jsonEqual } from './json.js';

export interface Merge3Result {
  /** Both sides' changes applied to the base; at a conflict, `mine`'s value. */
  merged: unknown;
  /** Paths both sides changed to different values (the shallowest such path). */
  conflicts: JsonPath[];
  /** Paths `mine` changed relative to `base` (changedPaths: arrays of equal length by index). */
  mine: JsonPath[];
  /** Paths `theirs` changed relative to `base`. */
  theirs: JsonPath[];
}

type JsonObject = { [key: string]: unknown };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const has = (o: JsonObject, k: string) => Object.hasOwn(o, k);

/**
 * The deepest paths at which `a` and `b` differ. Objects recurse by key,
 * arrays of equal length by index; anything else that differs is one path.
 * An added or removed key is reported at that key. Keys in sorted order.
 */
export function changedPaths(a: unknown, b: unknown, prefix: JsonPath = []): JsonPath[] {
  if (jsonEqual(a, b)) return [];
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const out: JsonPath[] = [];
    for (const k of [...keys].sort()) {
      if (!has(a, k) || !has(b, k)) out.push([...prefix, k]);
      else out.push(...changedPaths(a[k], b[k], [...prefix, k]));
    }
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((x, i) => changedPaths(x, b[i], [...prefix, i]));
  }
  return [prefix];
}

const ABSENT = Symbol('absent');
type Slot = unknown | typeof ABSENT;

/**
 * Three-way merge: start from what both sides agree on, take each side's
 * changes relative to `base`; where both changed the same path differently,
 * keep mine and report the path so a person (or threeWayMerge) decides.
 * The same change made on both sides is no conflict.
 */
export function merge3(base: unknown, mine: unknown, theirs: unknown): Merge3Result {
  const conflicts: JsonPath[] = [];
  const merged = mergeSlot(base, mine, theirs, [], conflicts);
  return {
    merged: merged === ABSENT ? null : merged,
    conflicts,
    mine: changedPaths(base, mine),
    theirs: changedPaths(base, theirs),
  };
}

function mergeSlot(
  base: Slot,
  mine: Slot,
  theirs: Slot,
  path: JsonPath,
  conflicts: JsonPath[],
): Slot {
  const eq = (x: Slot, y: Slot) => (x === ABSENT || y === ABSENT ? x === y : jsonEqual(x, y));
  if (eq(mine, theirs)) return mine;
  if (eq(base, mine)) return theirs;
  if (eq(base, theirs)) return mine;
  if (isObject(mine) && isObject(theirs)) {
    const b = isObject(base) ? base : {};
    const out: JsonObject = {};
    const keys = new Set([...Object.keys(theirs), ...Object.keys(mine)]);
    for (const k of keys) {
      const v = mergeSlot(
        has(b, k) ? b[k] : ABSENT,
        has(mine, k) ? mine[k] : ABSENT,
        has(theirs, k) ? theirs[k] : ABSENT,
        [...path, k],
        conflicts,
      );
      // defineProperty, not assignment: a "__proto__" key stays a plain own member.
      if (v !== ABSENT)
        Object.defineProperty(out, k, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }
    return out;
  }
  conflicts.push(path);
  return mine;
}

/**
 * A ready `merge` for update(): `client.update(url, change, { merge: threeWayMerge })`.
 * When the two sides changed different paths, the merged document is written;
 * when they overlap it throws MergeConflictError (with the paths), and
 * update() stops with that error: only a person can choose there.
 */
export function threeWayMerge<T>(base: T, mine: T, theirs: T): T {
  const result = merge3(base, mine, theirs);
  if (result.conflicts.length > 0) throw new MergeConflictError(result, { base, mine, theirs });
  return result.merged as T;
}
