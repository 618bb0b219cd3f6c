// What the four example apps share: the notes table in PostgreSQL or SQLite
// (created at start), request bodies (JSON, merge patch) and their 4xx
// problems. The writes are the binding's: each one a single conditional statement.
import type { DocumentStore, ETagSource } from '@ifmatch/core/pg';
import { pgDocuments } from '@ifmatch/core/pg';
import { sqliteDocuments } from '@ifmatch/core/sqlite';
import Database from 'better-sqlite3';
import mergePatch from 'json-merge-patch';
import pg from 'pg';

export type Note = unknown;
export type Notes = DocumentStore<Note>;

export const JSON_TYPE = 'application/json';
export const MERGE_PATCH_TYPE = 'application/merge-patch+json';
export const MAX_BODY = 1 << 20;
export const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `db`: a postgres:// URL or an SQLite file path. */
export async function openNotes(
  db: string,
  etag: ETagSource = 'version',
): Promise<{ notes: Notes; close(): Promise<void> }> {
  const table = { table: 'notes', etag };
  if (/^postgres(ql)?:\/\//.test(db)) {
    const pool = new pg.Pool({ connectionString: db, max: 10 });
    pool.on('error', (error) => console.error('idle PostgreSQL connection lost:', error.message));
    const notes = pgDocuments<Note>(pool, table);
    await notes.createTable();
    return { notes, close: () => pool.end() };
  }
  const sqlite = new Database(db);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 2000');
  return { notes: sqliteDocuments<Note>(sqlite, table), close: async () => void sqlite.close() };
}

/** ETag and Last-Modified of a stored state. */
export function noteHeaders(v: { etag: string; lastModified: number }): Record<string, string> {
  return { ETag: v.etag, 'Last-Modified': new Date(v.lastModified).toUTCString() };
}

export interface BadRequest {
  status: 400 | 413 | 415 | 422;
  problem: { type: string; title: string; status: number; detail: string };
}

const bad = (status: BadRequest['status'], title: string, detail: string): BadRequest => ({
  status,
  problem: { type: 'about:blank', title, status, detail },
});

/** A request body as JSON of the one media type allowed; checked before any precondition. */
export function parseBody(
  contentType: string | undefined,
  text: string,
  expected: string,
): { value: unknown } | BadRequest {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type !== expected) return bad(415, 'Unsupported Media Type', `Send ${expected}.`);
  if (Buffer.byteLength(text) > MAX_BODY) return bad(413, 'Content Too Large', 'At most 1 MiB.');
  try {
    const value = JSON.parse(text) as unknown;
    if (expected === MERGE_PATCH_TYPE && hasForbiddenMember(value)) {
      // json-merge-patch skips these names (its prototype-pollution guard): a half-applied patch.
      return bad(
        422,
        'Unprocessable Content',
        'Merge patches may not use __proto__, constructor or prototype.',
      );
    }
    return { value };
  } catch {
    return bad(400, 'Bad Request', 'The body is not valid JSON.');
  }
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

function hasForbiddenMember(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return Object.entries(value).some(([k, v]) => FORBIDDEN.has(k) || hasForbiddenMember(v));
}

/** RFC 7396 merge patch, applied to a copy (the stored value is never mutated). */
export function applyMergePatch(patch: unknown): (current: Note) => Note {
  return (current) => mergePatch.apply(structuredClone(current), patch);
}

export const PROBLEM_TYPE = 'application/problem+json';
export const NOT_FOUND = {
  type: 'about:blank',
  title: 'Not Found',
  status: 404,
  detail: 'No such note.',
};
