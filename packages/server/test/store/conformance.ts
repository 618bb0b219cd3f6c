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
import type {
  DocKey,
  DocumentStore,
  StoredDocument,
  StoredValidators,
  WriteDecider,
  WriteOutcome,
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
