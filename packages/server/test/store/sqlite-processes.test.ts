// The SQLite change log across real processes: a child process (the compiled
// store from dist/) writes to the same file while this one writes and listens.
// BEGIN IMMEDIATE serializes both, so the log holds every write once in commit
// order, and this process's poller signals the child's commits.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { ChangeSignal, StoredChange } from '../../src/store/types.js';
import { buildIfStale, ROOT } from '../helpers/build.js';

const STORE = join(ROOT, 'packages/server/dist/store/sqlite.js');
const dir = mkdtempSync(join(tmpdir(), 'ifmatch-sqlite-processes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `writes` puts from a child process; resolves with their ETags, in the child's order. */
function childWrites(path: string, collection: string, writes: number): Promise<string[]> {
  const script = `
    const { openSqliteStore } = await import(${JSON.stringify(STORE)});
    const store = openSqliteStore(${JSON.stringify(path)}, { synchronous: 'NORMAL' });
    const etags = [];
    for (let i = 0; i < ${writes}; i++) {
      const out = await store.write({ collection: ${JSON.stringify(collection)}, id: 'd' + (i % 5) },
        () => ({ action: 'put', body: Buffer.from(JSON.stringify({ child: i })) }));
      etags.push(out.doc.etag);
      // Let the other process take the write lock now and then.
      if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await store.close();
    process.stdout.write(JSON.stringify(etags));
  `;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: 30_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

describe('sqlite change log across processes', () => {
  beforeAll(() => {
    buildIfStale(STORE, ['packages/server/src', 'packages/core/src'], ['packages/server']);
  }, 120_000);

  it("logs both processes' concurrent writes once each, in commit order, and signals the child's", async () => {
    const path = join(dir, 'shared.db');
    const store = openSqliteStore(path, { synchronous: 'NORMAL' });
    const signals: ChangeSignal[] = [];
    const stop = store.subscribe((s) => signals.push(s));
    try {
      const c = 'shared';
      const writes = 300;
      const child = childWrites(path, c, writes);
      // Start once the child writes, so the two really run at once.
      const started = Date.now() + 20_000;
      while (!signals.some((s) => s.kind === 'change') && Date.now() < started) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const mine: string[] = [];
      for (let i = 0; i < writes; i++) {
        const out = await store.write({ collection: c, id: `d${i % 5}` }, () => ({
          action: 'put',
          body: Buffer.from(JSON.stringify({ parent: i })),
        }));
        if (out.action === 'put') mine.push(out.doc.etag);
        if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const theirs = await child;

      const log: StoredChange[] = (await store.changes(c, { after: 0, limit: 10_000 })).changes;
      expect(log).toHaveLength(2 * writes);
      for (let i = 1; i < log.length; i++) {
        expect(log[i]!.position).toBeGreaterThan(log[i - 1]!.position);
      }
      // Each process's own writes appear in the order it made them.
      const logged = log.map((ch) => ch.etag!);
      expect(logged.filter((e) => mine.includes(e))).toEqual(mine);
      expect(logged.filter((e) => theirs.includes(e))).toEqual(theirs);
      // The writes really interleaved (not one process after the other).
      const switches = log.filter(
        (ch, i) => i > 0 && mine.includes(ch.etag!) !== mine.includes(log[i - 1]!.etag!),
      ).length;
      expect(switches).toBeGreaterThan(2);
      // The last change of each document is its current state.
      for (let d = 0; d < 5; d++) {
        const last = log.filter((ch) => ch.id === `d${d}`).at(-1)!;
        expect((await store.validators({ collection: c, id: `d${d}` }))?.etag).toBe(last.etag);
      }

      // Every change, the child's included, was signalled here.
      const until = Date.now() + 3000;
      const signalled = () =>
        new Set(
          signals.flatMap((s) => (s.kind === 'change' && s.collection === c ? [s.position] : [])),
        );
      while (signalled().size < log.length && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect([...signalled()].sort((a, b) => a - b)).toEqual(log.map((ch) => ch.position));
    } finally {
      stop();
      await store.close();
    }
  }, 60_000);
});
