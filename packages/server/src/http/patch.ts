import fastJsonPatch, { type Operation } from 'fast-json-patch';
import mergePatch from 'json-merge-patch';
import { MAX_DEPTH, MERGE_PATCH_TYPE, nestingDepthExceeds } from './body.js';

const { applyPatch, validate, JsonPatchError } = fastJsonPatch;

// PATCH documents (RFC 7396 merge patch, RFC 6902 JSON Patch). Checked before
// the store's transaction; applied inside it, to the state the write replaces.

export type PatchKind = 'merge' | 'json';

export type PatchFailure = { status: 400 | 409 | 422; slug: string; detail: string };

export interface PreparedPatch {
  kind: PatchKind;
  document: unknown;
}

// json-merge-patch stops at these names and silently ignores the rest of the
// object (its prototype-pollution guard): a half-applied patch. Refuse them.
const FORBIDDEN_MEMBERS = new Set(['__proto__', 'constructor', 'prototype']);

function findForbiddenMember(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) continue; // merge patch replaces arrays wholesale: plain data
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_MEMBERS.has(key)) return key;
      stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return undefined;
}

/** Structural checks that need no document: 400/422 before any lock is taken. */
export function preparePatch(mediaType: string, document: unknown): PreparedPatch | PatchFailure {
  if (mediaType === MERGE_PATCH_TYPE) {
    const bad = findForbiddenMember(document);
    if (bad !== undefined) {
      return {
        status: 422,
        slug: 'unsupported-member-name',
        detail: `Merge patches may not contain the member name "${bad}"`,
      };
    }
    return { kind: 'merge', document };
  }
  if (!Array.isArray(document)) {
    return {
      status: 400,
      slug: 'invalid-patch',
      detail: 'A JSON Patch document must be an array of operations',
    };
  }
  const error = validate(document as Operation[]);
  if (error) {
    return {
      status: 400,
      slug: 'invalid-patch',
      detail: `Invalid JSON Patch: ${error.name} at operation ${error.index}: ${firstLine(error.message)}`,
    };
  }
  const intoItself = (document as Operation[]).findIndex(
    (op) => op.op === 'move' && isProperPrefix(op.from, op.path),
  );
  if (intoItself !== -1) {
    return {
      status: 422,
      slug: 'patch-not-applicable',
      detail: `JSON Patch cannot be applied: operation ${intoItself} moves a value into its own child (RFC 6902 section 4.4)`,
    };
  }
  return { kind: 'json', document };
}

/** RFC 6902 4.4: a move's `from` must not be a proper prefix of its `path`. */
function isProperPrefix(from: string, path: string): boolean {
  return path.length > from.length && path.startsWith(from) && path[from.length] === '/';
}

/**
 * Applies a prepared patch to stored bytes; the result is serialized once.
 * Pure: parses its inputs afresh on every call (a store may retry decide()).
 */
export function applyPreparedPatch(
  stored: Buffer,
  patch: PreparedPatch,
  maxBytes: number,
): { body: Buffer } | PatchFailure {
  const target: unknown = JSON.parse(stored.toString('utf8'));
  const ops = structuredClone(patch.document);
  let result: unknown;
  if (patch.kind === 'merge') {
    result = mergePatch.apply(target, ops);
  } else {
    try {
      result = applyPatch(target, ops as Operation[], true, true, true).newDocument;
    } catch (error) {
      if (error instanceof JsonPatchError) {
        if (error.name === 'TEST_OPERATION_FAILED') {
          return {
            status: 409,
            slug: 'patch-test-failed',
            detail: `JSON Patch test operation ${error.index} failed: the document does not hold the tested value`,
          };
        }
        return {
          status: 422,
          slug: 'patch-not-applicable',
          detail: `JSON Patch cannot be applied: ${error.name} at operation ${error.index}`,
        };
      }
      // fast-json-patch throws plain errors too (a `__proto__` path segment,
      // a path through a scalar): the patch does not apply to this document.
      return {
        status: 422,
        slug: 'patch-not-applicable',
        detail: `JSON Patch cannot be applied: ${firstLine((error as Error).message ?? String(error))}`,
      };
    }
  }
  if (result === undefined) {
    return {
      status: 422,
      slug: 'patch-not-applicable',
      detail: 'The patch removes the whole document; use DELETE',
    };
  }
  const text = JSON.stringify(result);
  if (nestingDepthExceeds(text)) {
    return {
      status: 422,
      slug: 'json-too-deep',
      detail: `The patched document would nest deeper than ${MAX_DEPTH} levels`,
    };
  }
  const body = Buffer.from(text, 'utf8');
  if (body.length > maxBytes) {
    return {
      status: 422,
      slug: 'document-too-large',
      detail: `The patched document would exceed ${maxBytes} bytes`,
    };
  }
  return { body };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
