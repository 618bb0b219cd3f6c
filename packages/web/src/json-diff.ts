// Key-path comparison and a three-way merge for JSON values, used by the
// conflict view. Paths are arrays of keys/indices; `formatPath` renders them
// as JSON Pointers (RFC 6901) for display.

export type JsonPath = readonly (string | number)[];

type JsonObject = { [key: string]: unknown };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const has = (o: JsonObject, k: string) => Object.hasOwn(o, k);

/** Structural equality of two JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => has(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * The deepest paths at which `a` and `b` differ. Objects recurse by key,
 * arrays of equal length by index; anything else that differs is one path.
 * An added or removed key is reported at that key.
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

/** RFC 6901 JSON Pointer; the root is "" which we show as "/" (whole document). */
export function formatPath(path: JsonPath): string {
  if (path.length === 0) return '(whole document)';
  return path.map((s) => '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

export const pathKey = (path: JsonPath): string => JSON.stringify(path);

/** True when `prefix` is `path` or an ancestor of it. */
export function isPrefix(prefix: JsonPath, path: JsonPath): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

export interface MergeResult {
  merged: unknown;
  /** Paths both sides changed to different values; `merged` holds mine there. */
  conflicts: JsonPath[];
}

const ABSENT = Symbol('absent');
type Slot = unknown | typeof ABSENT;

/**
 * Three-way merge: start from what both sides agree on, take each side's
 * changes relative to `base`; where both changed the same path differently,
 * keep mine and report the path so the person resolves it by hand.
 */
export function merge3(base: unknown, mine: unknown, theirs: unknown): MergeResult {
  const conflicts: JsonPath[] = [];
  const merged = mergeSlot(base, mine, theirs, [], conflicts);
  return { merged: merged === ABSENT ? null : merged, conflicts };
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

/** The editor's canonical layout of a value (two-space indent). */
export const pretty = (value: unknown): string => JSON.stringify(value, null, 2);

export type ParseResult = { ok: true; value: unknown } | { ok: false; message: string };

export function parseJson(text: string): ParseResult {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}
