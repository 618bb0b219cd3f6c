// What every DocumentStore must do (src/store/types.ts), run against each real
// store by conformance.test.ts. A third store passes this before it is added
// to test/helpers/stores.ts (the HTTP contract suite).
//
// One store per target for the whole suite; every test writes to collections
// of its own, so tests are independent without a fresh database each.

import { randomBytes } from 'node:crypto';
import { hashBytes } from '@ifmatch/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionETag, documentETag } from '../../src/store/etag.js';
import {
  type ChangeSignal,
  ChangesExpiredError,
  type DocKey,
  type DocumentStore,
  type StoredChange,
  type StoredDocument,
  type StoredValidators,
  type WriteDecider,
  type WriteOutcome,
} from '../../src/store/types.js';

export interface StoreTarget {
  name: string;
  /** A fresh, empty store. Called once per suite. */
  open(): Promise<DocumentStore>;
  /**
   * Another store on the same data, as a second server process would open it
   * (undefined when the backend has no shared data, e.g. SQLite :memory:).
   */
  openSecond?: () => Promise<DocumentStore>;
  /**
   * A fresh, empty store on storage of its own (another file or database,
   * never the suite's), with these options (e.g. a short change retention).
   * The suite closes it; cleanup() removes its storage.
   */
  openWith(options: { changeRetentionMs?: number }): Promise<DocumentStore>;
  /**
   * Whether write() retries a transaction that lost a race by calling decide
   * again (PostgreSQL: two creates of one absent id). The suite then checks
   * that it really happened, so the "decide more than once" rules are tested.
   */
  retriesDecide: boolean;
  /** Removes what open() created; the stores are closed before. */
  cleanup(): Promise<void>;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const ETAG = /^"([0-9a-z]+)-([A-Za-z0-9_-]+)"$/;

/** The sequence value a document ETag carries (etag.ts: base 36). */
function sequenceOf(etag: string): number {
  const m = ETAG.exec(etag);
  if (!m) throw new Error(`not a document ETag: ${etag}`);
  return Number.parseInt(m[1]!, 36);
}

function expectPut<R>(
  out: WriteOutcome<R>,
): asserts out is Extract<WriteOutcome<R>, { action: 'put' }> {
  expect(out.action).toBe('put');
}

/** Waits until `check` holds (polling), failing with `what` after `timeoutMs`. */
async function eventually(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every change of a collection after `after`, through pages of `limit`. */
async function allChanges(
  store: DocumentStore,
  collection: string,
  after = 0,
  limit = 1000,
): Promise<StoredChange[]> {
  const out: StoredChange[] = [];
  for (let position = after; ; ) {
    const page = await store.changes(collection, { after: position, limit });
    out.push(...page.changes);
    if (page.changes.length < limit) return out;
    position = page.position;
  }
}

/**
 * This process's lasting handles and requests by type (timers, sockets): the
 * lowest count of each over a few samples, so timers that come and go (the
 * test runner's own) do not count, while one left running always does.
 */
async function lastingResources(): Promise<Map<string, number>> {
  let lowest: Map<string, number> | undefined;
  for (let sample = 0; sample < 8; sample++) {
    await sleep(10);
    const counts = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
    if (lowest === undefined) lowest = counts;
    else
      for (const [kind, count] of lowest) lowest.set(kind, Math.min(count, counts.get(kind) ?? 0));
  }
  return lowest!;
}

/** What a change of a written document must say. */
const changeOf = (position: number, id: string, doc: StoredValidators): StoredChange => ({
  position,
  id,
  etag: doc.etag,
  lastModified: doc.lastModified,
  deleted: false,
});

export function storeConformance(target: StoreTarget): void {
  describe(`store conformance: ${target.name}`, () => {
    let store: DocumentStore;
    const opened: DocumentStore[] = [];
    const run = randomBytes(3).toString('hex');
    let n = 0;
    /** A collection no other test touches. */
    const collection = () => `c${run}_${++n}`;
    const key = (): DocKey => ({ collection: collection(), id: 'doc' });
    const put = (k: DocKey, body: Buffer) => store.write(k, () => ({ action: 'put', body }));

    beforeAll(async () => {
      store = await target.open();
      opened.push(store);
    });
    afterAll(async () => {
      for (const s of opened) await s.close();
      await target.cleanup();
    });

    describe('validators and read', () => {
      it('an absent document has no validators and no body', async () => {
        const k = key();
        expect(await store.validators(k)).toBeUndefined();
        expect(await store.read(k)).toBeUndefined();
        expect(await store.collectionValidators(k.collection)).toBeUndefined();
      });

      it('a written document reads back byte for byte, with its validators and size', async () => {
        const k = key();
        // Multi-byte UTF-8, a NUL and a 0xff: bytes are stored, not text.
        const body = Buffer.concat([json({ text: 'héllo ☃ 🎉' }), Buffer.from([0, 0xff])]);
        const before = Date.now();
        const out = await put(k, body);
        expectPut(out);
        expect(out.created).toBe(true);
        expect(out.doc.size).toBe(body.length);
        // Store clocks (PostgreSQL's is the database's) within a few seconds of ours.
        expect(Math.abs(out.doc.lastModified - before)).toBeLessThan(5000);
        expect(Number.isInteger(out.doc.lastModified)).toBe(true);

        const v = await store.validators(k);
        expect(v).toEqual(out.doc);
        const doc = await store.read(k);
        expect(doc).toBeDefined();
        expect(Buffer.compare(doc!.body, body)).toBe(0);
        expect({ etag: doc!.etag, lastModified: doc!.lastModified, size: doc!.size }).toEqual(
          out.doc,
        );
      });

      it('the ETag is the one format of etag.ts: sequence and hash of the stored bytes', async () => {
        const k = key();
        const body = json({ format: true });
        const out = await put(k, body);
        expectPut(out);
        const m = ETAG.exec(out.doc.etag);
        expect(m, out.doc.etag).not.toBeNull();
        expect(m![2]).toBe(hashBytes(body));
        expect(out.doc.etag).toBe(documentETag(sequenceOf(out.doc.etag), body));
      });

      it('sizes are byte lengths, from every method that returns validators', async () => {
        const k = key();
        const body = Buffer.from('"ééé"'); // 5 characters, 8 bytes
        const out = await put(k, body);
        expectPut(out);
        expect(out.doc.size).toBe(8);
        expect((await store.validators(k))?.size).toBe(8);
        expect((await store.read(k))?.size).toBe(8);
        const made = await store.create(k.collection, body);
        expect(made.size).toBe(8);
        const big = Buffer.alloc(1 << 20, 0x61);
        const out2 = await put(k, big);
        expectPut(out2);
        expect(out2.doc.size).toBe(1 << 20);
        expect((await store.validators(k))?.size).toBe(1 << 20);
        const del = await store.write(k, () => ({ action: 'delete' }));
        expect(del.action === 'delete' && del.previous?.size).toBe(1 << 20);
      });
    });

    describe('compare-and-set write', () => {
      it('decide sees undefined for an absent document and the whole document otherwise', async () => {
        const k = key();
        const seen: Array<StoredDocument | undefined> = [];
        const record: WriteDecider<string> = (current) => {
          seen.push(current);
          return { action: 'refuse', result: 'looked' };
        };
        await store.write(k, record);
        expect(seen.at(-1)).toBeUndefined();
        const body = json({ a: 1 });
        const out = await put(k, body);
        expectPut(out);
        await store.write(k, record);
        const current = seen.at(-1);
        expect(current).toBeDefined();
        expect(current!.body.toString()).toBe(body.toString());
        expect({
          etag: current!.etag,
          lastModified: current!.lastModified,
          size: current!.size,
        }).toEqual(out.doc);
      });

      it('put replaces: created false, a new ETag even for the same bytes', async () => {
        const k = key();
        const body = json({ same: true });
        const first = await put(k, body);
        const second = await put(k, body);
        expectPut(first);
        expectPut(second);
        expect(second.created).toBe(false);
        expect(second.doc.etag).not.toBe(first.doc.etag);
        expect(sequenceOf(second.doc.etag)).toBeGreaterThan(sequenceOf(first.doc.etag));
        expect(second.doc.lastModified).toBeGreaterThanOrEqual(first.doc.lastModified);
        expect((await store.validators(k))?.etag).toBe(second.doc.etag);
      });

      it('a decision computed from the current body (a patch) is applied with its result', async () => {
        const k = key();
        await put(k, json({ n: 1, keep: 'x' }));
        const patch: WriteDecider<number> = (current) => {
          const doc = JSON.parse(current!.body.toString()) as { n: number; keep: string };
          return { action: 'put', body: json({ ...doc, n: doc.n + 1 }), result: doc.n + 1 };
        };
        const out = await store.write(k, patch);
        expectPut(out);
        expect(out.result).toBe(2);
        expect(JSON.parse((await store.read(k))!.body.toString())).toEqual({ n: 2, keep: 'x' });
      });

      it('refuse changes nothing and reports the current state with the result', async () => {
        const k = key();
        const out0 = await put(k, json({ v: 0 }));
        expectPut(out0);
        const counter = await store.collectionValidators(k.collection);
        const out = await store.write(k, () => ({ action: 'refuse', result: { why: 412 } }));
        expect(out.action).toBe('refuse');
        if (out.action !== 'refuse') return;
        expect(out.result).toEqual({ why: 412 });
        expect(out.current?.etag).toBe(out0.doc.etag);
        expect(out.current?.body.toString()).toBe('{"v":0}');
        expect(await store.validators(k)).toEqual(out0.doc);
        expect(await store.collectionValidators(k.collection)).toEqual(counter);

        const absent = await store.write({ collection: k.collection, id: 'none' }, () => ({
          action: 'refuse',
          result: 404,
        }));
        expect(absent).toEqual({ action: 'refuse', current: undefined, result: 404 });
        expect(await store.collectionValidators(k.collection)).toEqual(counter);
      });

      it('delete removes the document and reports what it was', async () => {
        const k = key();
        const out = await put(k, json({ doomed: true }));
        expectPut(out);
        const del = await store.write(k, () => ({ action: 'delete', result: 'gone' }));
        expect(del).toEqual({ action: 'delete', previous: out.doc, result: 'gone' });
        expect(await store.validators(k)).toBeUndefined();
        expect(await store.read(k)).toBeUndefined();
      });

      it('delete of an absent document is a successful no-op (types.ts)', async () => {
        const k = key();
        await put({ collection: k.collection, id: 'other' }, json(1));
        const counter = await store.collectionValidators(k.collection);
        const del = await store.write(k, () => ({ action: 'delete', result: 'asked' }));
        expect(del.action).toBe('delete');
        if (del.action !== 'delete') return;
        expect(del.previous).toBeUndefined();
        expect(del.result).toBe('asked');
        expect(await store.validators(k)).toBeUndefined();
        expect(await store.collectionValidators(k.collection)).toEqual(counter);
        // Also in a collection that never had a member: it does not come to exist.
        const empty = key();
        expect((await store.write(empty, () => ({ action: 'delete' }))).action).toBe('delete');
        expect(await store.collectionValidators(empty.collection)).toBeUndefined();
      });

      it('never reuses an ETag for a URL, across delete and re-create with the same bytes', async () => {
        const k = key();
        const seen = new Set<string>();
        for (let i = 0; i < 5; i++) {
          const out = await put(k, json({ same: true }));
          expectPut(out);
          expect(out.created).toBe(true);
          expect(seen.has(out.doc.etag)).toBe(false);
          seen.add(out.doc.etag);
          await store.write(k, () => ({ action: 'delete' }));
        }
      });

      it('a create-only race on one absent id: exactly one creates, every loser sees the winner', async () => {
        // Where there is one, half the writers go through a second instance: a
        // store may queue its own writes to one document, instances still race.
        const other = target.openSecond ? await target.openSecond() : store;
        if (other !== store) opened.push(other);
        let retried = 0;
        for (let round = 0; round < 10; round++) {
          const k = key();
          const calls = new Map<number, number>();
          // Pure in what it decides; counts calls only to see the store's retries.
          const createOnly =
            (writer: number): WriteDecider<{ writer: number; call: number }> =>
            (current) => {
              const call = (calls.get(writer) ?? 0) + 1;
              calls.set(writer, call);
              return current === undefined
                ? { action: 'put', body: json({ writer }), result: { writer, call } }
                : { action: 'refuse', result: { writer, call } };
            };
          const outs = await Promise.all(
            Array.from({ length: 8 }, (_, w) => (w % 2 ? other : store).write(k, createOnly(w))),
          );
          const winners = outs.filter((o) => o.action === 'put');
          expect(winners).toHaveLength(1);
          const winner = winners[0]!;
          expectPut(winner);
          expect(winner.created).toBe(true);
          const stored = await store.read(k);
          expect(JSON.parse(stored!.body.toString())).toEqual({ writer: winner.result!.writer });
          for (const o of outs) {
            // Each outcome is its writer's last decision (a retried decide replaces the first).
            expect(o.result!.call).toBe(calls.get(o.result!.writer));
            if (o.action === 'refuse') expect(o.current?.etag).toBe(winner.doc.etag);
          }
          for (const count of calls.values()) if (count > 1) retried++;
        }
        if (target.retriesDecide) expect(retried).toBeGreaterThan(0);
      });

      it('loses no update when many read-modify-writes of one document run at once', async () => {
        const k = key();
        const increment: WriteDecider<number> = (current) => {
          const v = current ? (JSON.parse(current.body.toString()) as { n: number }).n : 0;
          return { action: 'put', body: json({ n: v + 1 }), result: v + 1 };
        };
        const outs = await Promise.all(Array.from({ length: 40 }, () => store.write(k, increment)));
        const results = outs.map((o) => o.result as number).sort((a, b) => a - b);
        expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(JSON.parse((await store.read(k))!.body.toString())).toEqual({ n: 40 });
      });
    });

    describe('create', () => {
      it('stores under fresh unique ids, with validators like a put', async () => {
        const c = collection();
        const made = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.create(c, json({ i }))),
        );
        expect(new Set(made.map((m) => m.id)).size).toBe(20);
        for (const m of made) {
          expect(m.id).toMatch(
            /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
          );
          const { id, ...validators } = m;
          expect(await store.validators({ collection: c, id })).toEqual(validators);
          const i = made.indexOf(m);
          expect((await store.read({ collection: c, id }))?.body.toString()).toBe(`{"i":${i}}`);
          expect(m.etag).toBe(documentETag(sequenceOf(m.etag), json({ i })));
        }
      });
    });

    describe('list', () => {
      it('pages through members in byte order of their ids', async () => {
        const c = collection();
        const ids = ['b', 'a', 'Z', 'B', 'a-1', 'a_1', 'é'];
        const written = new Map<string, StoredValidators>();
        for (const id of ids) {
          const out = await put({ collection: c, id }, json(id));
          expectPut(out);
          written.set(id, out.doc);
        }
        // Another collection sharing a prefix must not leak in.
        await put({ collection: `${c}x`, id: 'a' }, json('other'));
        const order = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect(order.slice(0, 4)).toEqual(['B', 'Z', 'a', 'a-1']);

        const seen: string[] = [];
        let after: string | undefined;
        for (let pages = 0; pages < 10; pages++) {
          const page = await store.list(c, { limit: 3, ...(after ? { after } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(3);
          for (const item of page.items) {
            const v = written.get(item.id)!;
            expect(item).toEqual({ id: item.id, etag: v.etag, lastModified: v.lastModified });
          }
          seen.push(...page.items.map((i) => i.id));
          if (page.next === null) break;
          expect(page.next).toBe(page.items.at(-1)!.id);
          after = page.next;
        }
        expect(seen).toEqual(order);
      });

      it('the last page has next null, also when it is exactly full; after need not exist', async () => {
        const c = collection();
        for (const id of ['a', 'b', 'c', 'd']) await put({ collection: c, id }, json(id));
        const full = await store.list(c, { limit: 4 });
        expect(full.items.map((i) => i.id)).toEqual(['a', 'b', 'c', 'd']);
        expect(full.next).toBeNull();
        const first = await store.list(c, { limit: 1 });
        expect(first.items.map((i) => i.id)).toEqual(['a']);
        expect(first.next).toBe('a');
        const mid = await store.list(c, { after: 'bb', limit: 10 });
        expect(mid.items.map((i) => i.id)).toEqual(['c', 'd']);
        expect(mid.next).toBeNull();
        const past = await store.list(c, { after: 'z', limit: 10 });
        expect(past).toMatchObject({ items: [], next: null });
        const none = await store.list(collection(), { limit: 10 });
        expect(none).toMatchObject({ items: [], next: null });
      });

      it("a page's own validators, when given, are the collection's", async () => {
        const c = collection();
        await put({ collection: c, id: 'x' }, json(1));
        const page = await store.list(c, { limit: 10 });
        if (page.validators !== undefined) {
          expect(page.validators).toEqual(await store.collectionValidators(c));
        }
        expect(page.items.map((i) => i.id)).toEqual(['x']);
      });
    });

    describe('collection counters', () => {
      it('move on every committed member write and never repeat a tag', async () => {
        const c = collection();
        const k = { collection: c, id: 'm' };
        const tags: string[] = [];
        const step = async (what: () => Promise<unknown>) => {
          await what();
          const v = await store.collectionValidators(c);
          expect(v).toBeDefined();
          expect(tags).not.toContain(v!.etag);
          tags.push(v!.etag);
          return v!;
        };
        const afterPut = await step(() => put(k, json(1)));
        // Counter tags are "c<decimal>" (etag.ts), distinct from any document tag.
        expect(afterPut.etag).toMatch(/^"c\d+"$/);
        expect(afterPut.etag).toBe(collectionETag(Number(afterPut.etag.slice(2, -1))));
        expect(afterPut.lastModified).toBe((await store.validators(k))!.lastModified);
        await step(() => put(k, json(2)));
        await step(() => store.create(c, json(3)));
        const afterDelete = await step(() => store.write(k, () => ({ action: 'delete' })));
        // Deleting the last-written member still leaves the collection known.
        expect(afterDelete.lastModified).toBeGreaterThanOrEqual(afterPut.lastModified);
        await step(() => put(k, json(1)));
        // A write in another collection leaves this one alone.
        const now = await store.collectionValidators(c);
        await put({ collection: collection(), id: 'm' }, json(1));
        expect(await store.collectionValidators(c)).toEqual(now);
      });
    });

    // Only where the backend shares data between instances (not :memory:).
    const second = target.openSecond;
    if (second !== undefined) {
      describe('a second instance on the same data', () => {
        it('sees every committed write at once (no stale cache), and writes atomically with the first', async () => {
          const other = await second();
          opened.push(other);
          const k = key();
          // Read through both first, so any per-instance cache holds the old state.
          expect(await store.validators(k)).toBeUndefined();
          expect(await other.validators(k)).toBeUndefined();
          const out = await other.write(k, () => ({ action: 'put', body: json({ by: 'other' }) }));
          expectPut(out);
          expect(await store.validators(k)).toEqual(out.doc);
          expect((await store.read(k))?.body.toString()).toBe('{"by":"other"}');
          expect(await store.collectionValidators(k.collection)).toEqual(
            await other.collectionValidators(k.collection),
          );
          const mine = await put(k, json({ by: 'first' }));
          expectPut(mine);
          expect(await other.validators(k)).toEqual(mine.doc);
          expect((await other.list(k.collection, { limit: 5 })).items).toEqual([
            { id: 'doc', etag: mine.doc.etag, lastModified: mine.doc.lastModified },
          ]);

          // Compare-and-set across instances: of two writes with the same
          // expected tag, exactly one wins, and the loser sees the winner.
          for (let round = 0; round < 10; round++) {
            const expected = (await store.validators(k))!.etag;
            const ifMatch =
              (by: string): WriteDecider<string> =>
              (current) =>
                current?.etag === expected
                  ? { action: 'put', body: json({ round, by }), result: by }
                  : { action: 'refuse', result: by };
            const outs = await Promise.all([
              store.write(k, ifMatch('first')),
              other.write(k, ifMatch('other')),
            ]);
            const winners = outs.filter((o) => o.action === 'put');
            expect(winners).toHaveLength(1);
            const winner = winners[0]!;
            expectPut(winner);
            const loser = outs.find((o) => o.action === 'refuse');
            expect(loser?.action === 'refuse' && loser.current?.etag).toBe(winner.doc.etag);
            expect(await store.validators(k)).toEqual(winner.doc);
            expect(await other.validators(k)).toEqual(winner.doc);
          }
          const del = await other.write(k, () => ({ action: 'delete' }));
          expect(del.action === 'delete' && del.previous).toBeTruthy();
          expect(await store.validators(k)).toBeUndefined();
        });
      });
    }

    describe('change log', () => {
      it('every committed write appends one change, in commit order, with the new state', async () => {
        const c = collection();
        const before = Date.now();
        const a1 = await put({ collection: c, id: 'a' }, json(1));
        const b1 = await put({ collection: c, id: 'b' }, json(2));
        const a2 = await put({ collection: c, id: 'a' }, json(3));
        const made = await store.create(c, json(4));
        const del = await store.write({ collection: c, id: 'b' }, () => ({ action: 'delete' }));
        expectPut(a1);
        expectPut(b1);
        expectPut(a2);
        expect(del.action === 'delete' && del.previous).toEqual(b1.doc);
        // Another collection's writes stay out of this log.
        await put({ collection: `${c}x`, id: 'a' }, json(5));

        const page = await store.changes(c, { after: 0, limit: 100 });
        expect(page.changes).toHaveLength(5);
        const positions = page.changes.map((ch) => ch.position);
        expect(positions[0]).toBeGreaterThanOrEqual(1);
        for (let i = 1; i < positions.length; i++) {
          expect(positions[i]).toBeGreaterThan(positions[i - 1]!);
        }
        const [p1, p2, p3, p4, p5] = positions as [number, number, number, number, number];
        const { id: madeId, ...madeDoc } = made;
        expect(page.changes.slice(0, 4)).toEqual([
          changeOf(p1, 'a', a1.doc),
          changeOf(p2, 'b', b1.doc),
          changeOf(p3, 'a', a2.doc),
          changeOf(p4, madeId, madeDoc),
        ]);
        // A deletion is a tombstone: no ETag, the time it was deleted.
        const tomb = page.changes[4]!;
        expect(tomb).toMatchObject({ position: p5, id: 'b', deleted: true });
        expect(tomb.etag).toBeUndefined();
        expect(tomb.lastModified).toBeGreaterThanOrEqual(made.lastModified);
        expect(Math.abs(tomb.lastModified - before)).toBeLessThan(5000);
        expect(page.position).toBe(p5);
        // Nothing after the last one; the page says where it stands.
        expect(await store.changes(c, { after: p5, limit: 100 })).toEqual({
          changes: [],
          position: p5,
        });
      });

      it('a refusal and a no-op delete append nothing', async () => {
        const c = collection();
        const out = await put({ collection: c, id: 'x' }, json(1));
        expectPut(out);
        const before = await store.changes(c, { after: 0, limit: 100 });
        expect(before.changes).toHaveLength(1);
        await store.write({ collection: c, id: 'x' }, () => ({ action: 'refuse', result: 412 }));
        await store.write({ collection: c, id: 'y' }, () => ({ action: 'refuse', result: 404 }));
        await store.write({ collection: c, id: 'y' }, () => ({ action: 'delete' }));
        expect(await store.changes(c, { after: 0, limit: 100 })).toEqual(before);
        // A collection that only saw a no-op delete has an empty log.
        const empty = collection();
        await store.write({ collection: empty, id: 'y' }, () => ({ action: 'delete' }));
        expect(await store.changes(empty, { after: 0, limit: 100 })).toEqual({
          changes: [],
          position: 0,
        });
        expect((await store.list(empty, { limit: 10 })).position).toBe(0);
      });

      it('pages with limit and after, from the oldest with after = 0', async () => {
        const c = collection();
        for (let i = 0; i < 7; i++) await put({ collection: c, id: `d${i % 3}` }, json(i));
        const all = (await store.changes(c, { after: 0, limit: 100 })).changes;
        expect(all).toHaveLength(7);
        const pages: StoredChange[][] = [];
        let after = 0;
        for (let guard = 0; guard < 10; guard++) {
          const page = await store.changes(c, { after, limit: 3 });
          if (page.changes.length === 0) {
            expect(page.position).toBe(after);
            break;
          }
          expect(page.position).toBe(page.changes.at(-1)!.position);
          pages.push(page.changes);
          after = page.position;
        }
        expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
        expect(pages.flat()).toEqual(all);
        // after need not be a position of this log: strictly greater ones follow.
        const mid = all[2]!.position;
        expect((await store.changes(c, { after: mid + 0.5, limit: 100 })).changes).toEqual(
          all.filter((ch) => ch.position > mid + 0.5),
        );
        expect((await store.changes(c, { after: mid, limit: 2 })).changes).toEqual(all.slice(3, 5));
      });

      it('list().position: changes after it are exactly the later writes', async () => {
        const c = collection();
        expect((await store.list(c, { limit: 10 })).position).toBe(0);
        await put({ collection: c, id: 'a' }, json(1));
        await put({ collection: c, id: 'b' }, json(2));
        const listed = await store.list(c, { limit: 1 });
        expect(listed.items.map((i) => i.id)).toEqual(['a']);
        const log = await allChanges(store, c);
        // Every page of the listing carries the position, also a partial one.
        expect(listed.position).toBe(log.at(-1)!.position);
        expect(await store.changes(c, { after: listed.position, limit: 100 })).toEqual({
          changes: [],
          position: listed.position,
        });
        const later = await put({ collection: c, id: 'c' }, json(3));
        expectPut(later);
        await store.write({ collection: c, id: 'a' }, () => ({ action: 'delete' }));
        const since = await store.changes(c, { after: listed.position, limit: 100 });
        expect(since.changes.map((ch) => [ch.id, ch.deleted, ch.etag])).toEqual([
          ['c', false, later.doc.etag],
          ['a', true, undefined],
        ]);
        expect((await store.list(c, { limit: 10 })).position).toBe(since.position);
      });

      it('changes older than the retention expire: ChangesExpiredError, while after = 0 still works', async () => {
        const retentionMs = 1000;
        const short = await target.openWith({ changeRetentionMs: retentionMs });
        opened.push(short);
        const c = collection();
        await short.write({ collection: c, id: 'a' }, () => ({ action: 'put', body: json(1) }));
        await short.write({ collection: c, id: 'b' }, () => ({ action: 'put', body: json(2) }));
        const [p1, p2] = (await short.changes(c, { after: 0, limit: 10 })).changes.map(
          (ch) => ch.position,
        ) as [number, number];
        // The store prunes by itself (a timer), within a fraction of the retention after it.
        const started = Date.now();
        let kept = 2;
        while (kept > 0) {
          expect(Date.now() - started, 'pruned within 3x the retention').toBeLessThan(
            3 * retentionMs,
          );
          await sleep(50);
          kept = (await short.changes(c, { after: 0, limit: 10 })).changes.length;
        }
        expect(Date.now() - started).toBeGreaterThanOrEqual(retentionMs - 100);
        const fresh = await short.write({ collection: c, id: 'c' }, () => ({
          action: 'put',
          body: json(3),
        }));
        expectPut(fresh);
        const error = await short.changes(c, { after: p1, limit: 10 }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ChangesExpiredError);
        // The oldest resumable position: the last one pruned.
        expect((error as ChangesExpiredError).oldest).toBe(p2);
        const resumed = await short.changes(c, { after: p2, limit: 10 });
        expect(resumed.changes.map((ch) => ch.id)).toEqual(['c']);
        const fromOldest = await short.changes(c, { after: 0, limit: 10 });
        expect(fromOldest).toEqual(resumed);
        // A listing's position is always resumable.
        const listed = await short.list(c, { limit: 10 });
        expect(listed.items.map((i) => i.id)).toEqual(['a', 'b', 'c']);
        await expect(short.changes(c, { after: listed.position, limit: 10 })).resolves.toEqual({
          changes: [],
          position: listed.position,
        });
        // Another collection of the store with nothing pruned is not expired.
        const other = collection();
        await short.write({ collection: other, id: 'x' }, () => ({ action: 'put', body: json(1) }));
        const otherLog = await short.changes(other, { after: 0, limit: 10 });
        expect(otherLog.changes).toHaveLength(1);
        await expect(short.changes(other, { after: 1, limit: 10 })).resolves.toBeDefined();
      });

      it('concurrent writers through two instances: every committed write once, in commit order', async () => {
        const other = target.openSecond ? await target.openSecond() : store;
        if (other !== store) opened.push(other);
        const c = collection();
        const outs = await Promise.all(
          Array.from({ length: 48 }, (_, i) => {
            const k = { collection: c, id: `d${i % 4}` };
            const s = i % 2 ? other : store;
            return i % 6 === 5
              ? s.write(k, () => ({ action: 'delete' as const }))
              : s.write(k, () => ({ action: 'put' as const, body: json(i) }));
          }),
        );
        const putTags = outs.flatMap((o) => (o.action === 'put' ? [o.doc.etag] : []));
        const deletions = outs.filter((o) => o.action === 'delete' && o.previous).length;
        const log = await allChanges(store, c, 0, 7);
        expect(log).toHaveLength(putTags.length + deletions);
        for (let i = 1; i < log.length; i++) {
          expect(log[i]!.position).toBeGreaterThan(log[i - 1]!.position);
        }
        expect(log.filter((ch) => !ch.deleted).map((ch) => ch.etag)).toHaveLength(putTags.length);
        expect(new Set(log.flatMap((ch) => (ch.deleted ? [] : [ch.etag])))).toEqual(
          new Set(putTags),
        );
        expect(log.filter((ch) => ch.deleted)).toHaveLength(deletions);
        // Commit order: per document, versions follow each other, a delete
        // only follows a version, and the last change is the current state.
        for (let d = 0; d < 4; d++) {
          const id = `d${d}`;
          const mine = log.filter((ch) => ch.id === id);
          let previous: StoredChange | undefined;
          for (const ch of mine) {
            if (ch.deleted)
              expect(previous?.deleted ?? true, `${id}: delete of absent`).toBe(false);
            if (!ch.deleted && previous && !previous.deleted) {
              expect(sequenceOf(ch.etag!)).toBeGreaterThan(sequenceOf(previous.etag!));
            }
            previous = ch;
          }
          const current = await store.validators({ collection: c, id });
          expect(current?.etag).toBe(previous?.deleted ? undefined : previous?.etag);
        }
        // The listing's position is the log's last.
        expect((await other.list(c, { limit: 1 })).position).toBe(log.at(-1)!.position);
      });
    });

    describe('identity', () => {
      it('is stable for the storage and differs for another one', async () => {
        const id = await store.identity();
        expect(typeof id).toBe('string');
        expect(id.length).toBeGreaterThan(0);
        expect(await store.identity()).toBe(id);
        if (target.openSecond) {
          const other = await target.openSecond();
          opened.push(other);
          expect(await other.identity()).toBe(id);
        }
        const fresh = await target.openWith({});
        opened.push(fresh);
        const freshId = await fresh.identity();
        expect(freshId).not.toBe(id);
        expect(await fresh.identity()).toBe(freshId);
      });
    });

    describe('subscribe', () => {
      const changesOf = (signals: ChangeSignal[], c: string) =>
        signals.flatMap((s) => (s.kind === 'change' && s.collection === c ? [s] : []));

      it("signals this instance's commits with the change's position; unsubscribe stops them", async () => {
        const c = collection();
        const signals: ChangeSignal[] = [];
        const unsubscribe = store.subscribe((s) => signals.push(s));
        await put({ collection: c, id: 'a' }, json(1));
        const made = await store.create(c, json(2));
        await store.write({ collection: c, id: 'a' }, () => ({ action: 'delete' }));
        // Refusals and no-ops commit nothing, so they signal nothing.
        await store.write({ collection: c, id: 'a' }, () => ({ action: 'delete' }));
        await store.write({ collection: c, id: 'b' }, () => ({ action: 'refuse', result: 1 }));
        const log = await allChanges(store, c);
        expect(log).toHaveLength(3);
        await eventually('three signals', () => changesOf(signals, c).length >= 3);
        // Duplicates are allowed; every change is signalled, with its position.
        const signalled = new Map(changesOf(signals, c).map((s) => [s.position, s.id]));
        expect([...signalled]).toEqual(log.map((ch) => [ch.position, ch.id]));
        expect(log.map((ch) => ch.id)).toEqual(['a', made.id, 'a']);

        unsubscribe();
        unsubscribe(); // twice is harmless
        const count = signals.length;
        await put({ collection: c, id: 'a' }, json(3));
        await sleep(100);
        expect(signals.length).toBe(count);
      });

      it('a read the listener starts on a signal sees the signalled commit', async () => {
        const other = target.openSecond ? await target.openSecond() : store;
        if (other !== store) opened.push(other);
        const c = collection();
        const k = { collection: c, id: 'a' };
        // Read through both first, so any per-instance cache holds the old state.
        expect(await store.validators(k)).toBeUndefined();
        expect(await other.validators(k)).toBeUndefined();
        const reads = new Map<number, Promise<StoredValidators | undefined>>();
        const stop = store.subscribe((s) => {
          if (s.kind !== 'change' || s.collection !== c || reads.has(s.position)) return;
          reads.set(s.position, Promise.resolve(store.validators(k)));
        });
        try {
          for (const [by, n] of [
            [store, 1],
            [other, 2],
            [store, 3],
            [other, 4],
          ] as const) {
            const out = await by.write(k, () => ({ action: 'put', body: json(n) }));
            expectPut(out);
            const position = (await store.changes(c, { after: 0, limit: 10 })).changes.at(
              -1,
            )!.position;
            await eventually(`the signal of write ${n}`, () => reads.has(position));
            expect(await reads.get(position)).toEqual(out.doc);
          }
        } finally {
          stop();
        }
      });

      it('each subscription gets every signal; one leaving does not stop the others', async () => {
        const c = collection();
        const first: ChangeSignal[] = [];
        const second: ChangeSignal[] = [];
        const stopFirst = store.subscribe((s) => first.push(s));
        const stopSecond = store.subscribe((s) => second.push(s));
        try {
          await put({ collection: c, id: 'a' }, json(1));
          await eventually(
            'both',
            () => changesOf(first, c).length > 0 && changesOf(second, c).length > 0,
          );
          stopFirst();
          await put({ collection: c, id: 'b' }, json(2));
          await eventually('the second', () => changesOf(second, c).some((s) => s.id === 'b'));
          expect(changesOf(first, c).some((s) => s.id === 'b')).toBe(false);
        } finally {
          stopFirst();
          stopSecond();
        }
      });

      const second = target.openSecond;
      if (second !== undefined) {
        it("signals another instance's commits, within tens of milliseconds", async () => {
          const other = await second();
          opened.push(other);
          const c = collection();
          const signals: ChangeSignal[] = [];
          const unsubscribe = store.subscribe((s) => signals.push(s));
          try {
            const started = Date.now();
            await other.write({ collection: c, id: 'a' }, () => ({ action: 'put', body: json(1) }));
            await eventually(
              'a signal of the other commit',
              () => changesOf(signals, c).length > 0,
            );
            expect(Date.now() - started).toBeLessThan(1000);
            await other.write({ collection: c, id: 'a' }, () => ({ action: 'delete' }));
            await other.create(c, json(2));
            const log = await allChanges(store, c);
            expect(log).toHaveLength(3);
            await eventually('every commit of the other', () => {
              const positions = new Set(changesOf(signals, c).map((s) => s.position));
              return log.every((ch) => positions.has(ch.position));
            });
            for (const s of changesOf(signals, c)) {
              expect(log.find((ch) => ch.position === s.position)?.id).toBe(s.id);
            }
          } finally {
            unsubscribe();
          }
          const count = changesOf(signals, c).length;
          await other.write({ collection: c, id: 'b' }, () => ({ action: 'put', body: json(3) }));
          await sleep(150);
          expect(changesOf(signals, c)).toHaveLength(count);
        });
      }

      it('close() ends its signals and leaves no timer, socket or file behind', async () => {
        const before = await lastingResources();
        const extra = await (target.openSecond ?? (() => target.openWith({})))();
        const signals: ChangeSignal[] = [];
        extra.subscribe((s) => signals.push(s));
        const c = collection();
        await extra.write({ collection: c, id: 'a' }, () => ({ action: 'put', body: json(1) }));
        await eventually('its own commit', () => changesOf(signals, c).length > 0);
        // Closed with a listener still subscribed: close() ends the subscription too.
        await extra.close();
        const until = Date.now() + 3000;
        for (;;) {
          const now = await lastingResources();
          const left = [...now].filter(([kind, count]) => count > (before.get(kind) ?? 0));
          if (left.length === 0) break;
          if (Date.now() > until) {
            expect(Object.fromEntries(left), 'left behind by close()').toEqual({});
          }
        }
        const count = signals.length;
        if (target.openSecond) {
          await put({ collection: c, id: 'b' }, json(2));
          await sleep(100);
        }
        expect(signals).toHaveLength(count);
      });
    });

    describe('lifecycle', () => {
      it('is ready while open, not after close; close twice is fine', async () => {
        expect(await store.ready()).toBe(true);
        const extra = await (target.openSecond ?? target.open)();
        expect(await extra.ready()).toBe(true);
        expect(typeof extra.kind).toBe('string');
        expect(extra.kind.length).toBeGreaterThan(0);
        await extra.close();
        expect(await extra.ready()).toBe(false);
        await extra.close();
      });
    });
  });
}
