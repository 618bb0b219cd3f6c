// Crash safety: a storm of conditional PUTs from 8 writers against a real
// `ifmatch serve` process, SIGKILL in the middle of it, restart on the same
// data, and check that no acknowledged write is lost and no document is torn.
// Three kill/restart rounds per backend (SQLite file, PostgreSQL database).

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServer } from '../helpers/process.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../postgres/pg.js';

const DOCS = 4; // two writers per document: contention, so If-Match chains branch and 412
const WRITERS = 8;
const ROUNDS = 5;
// The identity representation: its ETag is the one a PUT acknowledges (a gzip
// response has its own per-coding ETag).
const IDENTITY = { headers: { 'accept-encoding': 'identity' } };

interface Sent {
  body: string;
  v: number;
  acked: boolean;
  etag?: string;
}

interface DocState {
  path: string;
  /** What the writers believe is current (from acks and re-reads). */
  etag: string;
  v: number;
  sent: Map<string, Sent>; // body -> write
}

interface Tally {
  acked: number;
  sent: number;
  lost: number;
  unackedApplied: number;
  rounds: number;
}

function pad(): string {
  // 0-48 KiB: big enough that a non-atomic write could be caught half-done.
  return randomBytes(Math.floor(Math.random() * 36 * 1024)).toString('base64');
}

async function storm(server: ServerProcess, docs: DocState[], writer: number): Promise<void> {
  const doc = docs[writer % DOCS]!;
  let seq = 0;
  for (;;) {
    const v = doc.v + 1;
    const body = JSON.stringify({ doc: doc.path, writer, v, seq: seq++, pad: pad() });
    const sent: Sent = { body, v, acked: false };
    doc.sent.set(body, sent);
    let res: Response;
    try {
      res = await fetch(server.url + doc.path, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'if-match': doc.etag },
        body,
      });
    } catch {
      return; // killed: this write's outcome is unknown
    }
    if (res.status === 200 || res.status === 201) {
      const etag = res.headers.get('etag');
      await res.arrayBuffer().catch(() => undefined);
      if (etag === null) throw new Error('2xx write without ETag');
      sent.acked = true;
      sent.etag = etag;
      if (v > doc.v) {
        doc.v = v;
        doc.etag = etag;
      }
    } else if (res.status === 412) {
      await res.arrayBuffer().catch(() => undefined);
      try {
        const current = await fetch(server.url + doc.path, IDENTITY);
        const text = await current.text();
        const parsed = JSON.parse(text) as { v: number };
        if (parsed.v > doc.v || (parsed.v === doc.v && current.headers.get('etag') !== doc.etag)) {
          doc.v = parsed.v;
          doc.etag = current.headers.get('etag')!;
        }
      } catch {
        return;
      }
    } else {
      throw new Error(`unexpected ${res.status} for PUT ${doc.path}: ${await res.text()}`);
    }
  }
}

/** After a restart: every document is one of the bodies sent, never older than its last ack. */
async function verify(server: ServerProcess, docs: DocState[], tally: Tally): Promise<void> {
  for (const doc of docs) {
    // identity: fetch asks for gzip by default, and a coded response has its own ETag.
    const res = await fetch(server.url + doc.path, { headers: { 'accept-encoding': 'identity' } });
    expect(res.status, doc.path).toBe(200);
    const text = await res.text();
    const etag = res.headers.get('etag');
    const sent = doc.sent.get(text);
    // Not torn: the stored bytes are exactly one of the bodies we sent.
    expect(sent, `${doc.path} holds bytes that were never sent (torn?)`).toBeDefined();
    expect(() => JSON.parse(text)).not.toThrow();
    const acked = [...doc.sent.values()].filter((s) => s.acked);
    const last = acked.reduce((a, b) => (b.v > a.v ? b : a));
    if (sent!.v < last.v) tally.lost += last.v - sent!.v;
    expect(
      sent!.v,
      `${doc.path}: state older than its last acknowledged write`,
    ).toBeGreaterThanOrEqual(last.v);
    if (sent!.acked) {
      expect(sent, `${doc.path}: not the last acknowledged write`).toBe(last);
      expect(etag, 'the ETag of an acknowledged state survives a restart').toBe(last.etag);
    } else {
      tally.unackedApplied++; // a write whose ack the kill swallowed: allowed
    }
    // Next round continues the chain from what is stored.
    doc.v = sent!.v;
    doc.etag = etag!;
  }
}

function runCrashRounds(label: string, db: () => string, tally: Tally): void {
  it(`${label}: ${ROUNDS} x SIGKILL mid-storm, every acknowledged write survives, nothing torn`, async () => {
    let server = await startServer(['--db', db()]);
    const docs: DocState[] = [];
    try {
      for (let d = 0; d < DOCS; d++) {
        const path = `/api/crash/doc-${d}`;
        const body = JSON.stringify({ doc: path, writer: -1, v: 0, seq: 0, pad: '' });
        const res = await fetch(server.url + path, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body,
        });
        expect(res.status).toBe(201);
        const etag = res.headers.get('etag')!;
        docs.push({
          path,
          etag,
          v: 0,
          sent: new Map([[body, { body, v: 0, acked: true, etag }]]),
        });
      }
      const etagOwners = new Map<string, string>();
      for (let round = 0; round < ROUNDS; round++) {
        const writers = Array.from({ length: WRITERS }, (_, w) => storm(server, docs, w));
        // Kill at a random moment once the storm is well under way.
        const ackedBefore = () =>
          docs.reduce((n, d) => n + [...d.sent.values()].filter((s) => s.acked).length, 0);
        const start = ackedBefore();
        const t0 = Date.now();
        while (ackedBefore() - start < 40 && Date.now() - t0 < 10_000) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 600));
        const { signal } = await server.kill('SIGKILL');
        expect(signal).toBe('SIGKILL');
        await Promise.all(writers);
        server = await startServer(['--db', db()]);
        await verify(server, docs, tally);
        tally.rounds++;
        // Never the same ETag for two different acknowledged bodies, across restarts.
        for (const doc of docs) {
          for (const s of doc.sent.values()) {
            if (!s.acked || s.etag === undefined) continue;
            const owner = etagOwners.get(s.etag);
            expect(owner === undefined || owner === s.body, `ETag ${s.etag} reused`).toBe(true);
            etagOwners.set(s.etag, s.body);
          }
        }
      }
      // The listing is readable after the crashes and names every document.
      const list = await fetch(`${server.url}/api/crash`);
      expect(list.status).toBe(200);
      const ids = ((await list.json()) as { items: { id: string }[] }).items.map((i) => i.id);
      expect(ids).toEqual(docs.map((d) => d.path.split('/').pop()));
    } finally {
      await server.kill('SIGTERM');
    }
    for (const doc of docs) {
      tally.sent += doc.sent.size;
      tally.acked += [...doc.sent.values()].filter((s) => s.acked).length;
    }
    console.log(
      `crash safety (${label}): ${tally.rounds} SIGKILLs, ${tally.sent} writes sent, ` +
        `${tally.acked} acknowledged, ${tally.lost} acknowledged writes lost, ` +
        `${tally.unackedApplied} unacknowledged writes found applied`,
    );
    expect(tally.lost).toBe(0);
    expect(tally.acked).toBeGreaterThan(ROUNDS * 40);
  }, 120_000);
}

describe('crash safety: SQLite', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ifmatch-crash-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  runCrashRounds('sqlite', () => join(dir, 'crash.db'), {
    acked: 0,
    sent: 0,
    lost: 0,
    unackedApplied: 0,
    rounds: 0,
  });
});

await describePostgres('crash safety: PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('ifmatch_crash');
  });
  afterAll(async () => {
    await database?.drop();
  });
  runCrashRounds('postgres', () => database.url, {
    acked: 0,
    sent: 0,
    lost: 0,
    unackedApplied: 0,
    rounds: 0,
  });
});
