// The SQL statements of the pg and better-sqlite3 bindings: one text per
// operation, each a single atomic statement (both dialects have ON CONFLICT and
// RETURNING). Placeholders are numbered in order of appearance: pg's $n, or
// SQLite's ?n.
import type { Layout } from './document-store.js';

export interface Statements {
  createTable: string;
  selectToken: string;
  select: string;
  /** [id, text, modified, (hash)] */
  updateAny: string;
  /** [id, text, modified, (hash), expected] */
  updateIf: string;
  /** [id, text, modified, (hash)] */
  insert: string;
  /** [id] */
  deleteAny: string;
  /** [id, expected] */
  deleteIf: string;
}

const q = (name: string) => `"${name}"`;

export function statements(l: Layout, placeholder: (n: number) => string): Statements {
  const [t, id, body, token, modified] = [l.table, l.id, l.body, l.token, l.modified].map(q);
  const p = placeholder;
  const hash = l.etag === 'hash';
  // The version increments inside the statement; a hash is the new text's, from the caller.
  const set = `${body} = ${p(2)}, ${modified} = ${p(3)}, ${token} = ${hash ? p(4) : `${token} + 1`}`;
  const returning = `RETURNING ${token} AS token, ${modified} AS modified`;
  const expected = p(hash ? 5 : 4);
  return {
    createTable:
      `CREATE TABLE IF NOT EXISTS ${t} (${id} TEXT PRIMARY KEY, ${body} TEXT NOT NULL, ` +
      `${token} ${hash ? 'TEXT' : 'BIGINT'} NOT NULL, ${modified} BIGINT NOT NULL)`,
    selectToken: `SELECT ${token} AS token, ${modified} AS modified FROM ${t} WHERE ${id} = ${p(1)}`,
    select: `SELECT ${body} AS text, ${token} AS token, ${modified} AS modified FROM ${t} WHERE ${id} = ${p(1)}`,
    updateAny: `UPDATE ${t} SET ${set} WHERE ${id} = ${p(1)} ${returning}`,
    updateIf: `UPDATE ${t} SET ${set} WHERE ${id} = ${p(1)} AND ${token} = ${expected} ${returning}`,
    insert:
      `INSERT INTO ${t} (${id}, ${body}, ${modified}, ${token}) ` +
      `VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${hash ? p(4) : '1'}) ON CONFLICT (${id}) DO NOTHING ${returning}`,
    deleteAny: `DELETE FROM ${t} WHERE ${id} = ${p(1)}`,
    deleteIf: `DELETE FROM ${t} WHERE ${id} = ${p(1)} AND ${token} = ${p(2)}`,
  };
}

/** The parameters of an update or insert, in placeholder order. */
export function writeParams(
  id: string,
  next: { text: string; modified: number; hash: string | undefined },
): unknown[] {
  return next.hash === undefined
    ? [id, next.text, next.modified]
    : [id, next.text, next.modified, next.hash];
}
