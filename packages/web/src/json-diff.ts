// JSON helpers of the editor and the conflict view. Paths are arrays of
// keys/indices; `formatPath` renders them as JSON Pointers (RFC 6901) for
// display. The comparison and the three-way merge are @ifmatch/client's, the
// same rules its threeWayMerge applies in update(): one implementation.

import { type JsonPath, jsonPointer } from '@ifmatch/client';

export type { JsonPath } from '@ifmatch/client';
export { changedPaths, jsonEqual, type Merge3Result as MergeResult, merge3 } from '@ifmatch/client';

/** RFC 6901 JSON Pointer for display; the root (pointer "") is the whole document. */
export function formatPath(path: JsonPath): string {
  return path.length === 0 ? '(whole document)' : jsonPointer(path);
}

export const pathKey = (path: JsonPath): string => JSON.stringify(path);

/** True when `prefix` is `path` or an ancestor of it. */
export function isPrefix(prefix: JsonPath, path: JsonPath): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
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
