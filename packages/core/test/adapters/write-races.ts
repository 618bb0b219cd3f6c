// The write-contract race suite (run by write-races-*.test.ts): on real stores, through the example apps of every adapter:
// many clients racing with the same precondition, through a TCP proxy that adds
// latency between app and database (PostgreSQL, Redis), so a check-then-write
// window would show. Exactly one write wins; the losers get what a failed
// pre-check gets (412 with the winner's ETag, or 404); nothing is lost.
import { IfMatchClient } from '@ifmatch/client';
import express4 from 'express4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as expressExample from '../../examples/express.js';
import * as fastifyExample from '../../examples/fastify.js';
import * as honoExample from '../../examples/hono.js';
import * as nodeExample from '../../examples/node.js';
import { type Backend, openBackend, type StoreKind } from '../helpers/stores.js';

export type Running = { url: string; close: () => Promise<void> };
export type Start = (notes: Backend['notes']) => Promise<Running>;

export const ADAPTERS: Record<string, Start> = {
  node: (n) => nodeExample.start(n),
  fastify: (n) => fastifyExample.start(n),
  express: (n) => expressExample.start(n),
  express4: (n) =>
    expressExample.start(n, 0, express4 as unknown as Parameters<typeof expressExample.start>[2]),
  hono: (n) => honoExample.start(n),
};

export interface Combo {
  adapter: keyof typeof ADAPTERS;
  store: StoreKind;
  etag: 'version' | 'hash';
  /** Counter race size: clients x increments. */
  counter: [number, number];
}

export const N = 16;
export const JSON_HEADERS = { 'Content-Type': 'application/json' };

export async function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
) {
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), headers: res.headers, text };
}

export async function create(url: string, value: unknown): Promise<string> {
  const r = await send(url, 'PUT', { ...JSON_HEADERS, 'If-None-Match': '*' }, value);
  expect(r.status).toBe(201);
  return r.etag!;
}

export const ok = (s: number) => s >= 200 && s < 300;

export function raceSuite(combo: Combo, pgUrl: () => string | undefined) {
  const name = `${combo.adapter} x ${combo.store} (${combo.etag} ETag)`;
  describe(name, () => {
    let backend: Backend;
    let app: Running;
    let id = 0;
    const fresh = () => `${app.url}/notes/n${++id}`;
    beforeAll(async () => {
      backend = await openBackend(combo.store, combo.etag, pgUrl());
      app = await ADAPTERS[combo.adapter]!(backend.notes);
    });
    afterAll(async () => {
      await app?.close();
      await backend?.close();
    });

    it(`${N} writers with the same If-Match: one 2xx, the rest 412 with the winner's ETag`, async () => {
      const url = fresh();
      const base = await create(url, { writer: 'none' });
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          send(url, 'PUT', { ...JSON_HEADERS, 'If-Match': base }, { writer: i }),
        ),
      );
      const winners = results.filter((r) => ok(r.status));
      expect(winners).toHaveLength(1);
      const winner = winners[0]!;
      expect(winner.etag).not.toBe(base);
      for (const loser of results.filter((r) => !ok(r.status))) {
        expect(loser.status).toBe(412);
        expect(loser.etag).toBe(winner.etag);
        expect(loser.headers.get('content-type')).toMatch(/problem\+json/);
      }
      const now = await send(url, 'GET', {});
      expect(now.etag).toBe(winner.etag);
      const index = results.indexOf(winner);
      expect(JSON.parse(now.text)).toEqual({ writer: index });
    });

    it(`${N} create-only writers (If-None-Match: *): exactly one 201`, async () => {
      const url = fresh();
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          send(url, 'PUT', { ...JSON_HEADERS, 'If-None-Match': '*' }, { creator: i }),
        ),
      );
      const created = results.filter((r) => r.status === 201);
      expect(created).toHaveLength(1);
      const losers = results.filter((r) => r.status !== 201);
      for (const loser of losers) {
        expect(loser.status).toBe(412);
        expect(loser.etag).toBe(created[0]!.etag);
        expect(JSON.parse(loser.text).detail).toBe(
          'The resource already exists (If-None-Match: *), so it was not created.',
        );
      }
      const now = await send(url, 'GET', {});
      expect(JSON.parse(now.text)).toEqual({ creator: results.indexOf(created[0]!) });
    });

    it('delete vs replace with the same If-Match: one wins, the rest 412 or 404', async () => {
      const url = fresh();
      const base = await create(url, { v: 0 });
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          i % 2 === 0
            ? send(url, 'DELETE', { 'If-Match': base })
            : send(url, 'PUT', { ...JSON_HEADERS, 'If-Match': base }, { v: i }),
        ),
      );
      const winners = results.filter((r) => ok(r.status));
      expect(winners).toHaveLength(1);
      const deleted = results.indexOf(winners[0]!) % 2 === 0;
      const now = await send(url, 'GET', {});
      if (deleted) {
        expect(now.status).toBe(404);
        for (const r of results) if (!ok(r.status)) expect([404, 412]).toContain(r.status);
      } else {
        expect(now.etag).toBe(winners[0]!.etag);
        for (const r of results) if (!ok(r.status)) expect(r.status).toBe(412);
      }
    });

    it(`counter: ${combo.counter[0]} clients x ${combo.counter[1]} update() increments lose nothing`, async () => {
      const [clients, increments] = combo.counter;
      const url = fresh();
      await create(url, { n: 0 });
      await Promise.all(
        Array.from({ length: clients }, async () => {
          const client = new IfMatchClient({ maxAttempts: 1000 });
          for (let i = 0; i < increments; i++) {
            await client.update<{ n: number }>(url, (c) => ({ n: c.n + 1 }));
          }
        }),
      );
      const now = await send(url, 'GET', {});
      expect(JSON.parse(now.text)).toEqual({ n: clients * increments });
    }, 60_000);

    it('a malformed If-Match fails closed (412) before any write', async () => {
      const url = fresh();
      const base = await create(url, { v: 1 });
      const r = await send(url, 'PUT', { ...JSON_HEADERS, 'If-Match': 'not-a-tag' }, { v: 2 });
      expect(r.status).toBe(412);
      expect(JSON.parse(r.text)).toMatchObject({ malformed: true, precondition: 'If-Match' });
      const now = await send(url, 'GET', {});
      expect(now.etag).toBe(base);
      expect(JSON.parse(now.text)).toEqual({ v: 1 });
    });

    if (combo.store !== 'redis') {
      it('a write the database refuses is a 503 problem (not applied), never a false 2xx', async () => {
        const url = fresh();
        const base = await create(url, { v: 1 });
        await backend.failWrites!();
        const r = await send(url, 'PUT', { ...JSON_HEADERS, 'If-Match': base }, { v: 'boom' });
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBe('1');
        expect(JSON.parse(r.text)).toMatchObject({ status: 503, outcome: 'not-applied' });
        const p = await send(
          url,
          'PATCH',
          { 'Content-Type': 'application/merge-patch+json', 'If-Match': base },
          { v: 'boom' },
        );
        expect(p.status).toBe(503);
        const now = await send(url, 'GET', {});
        expect(now.etag).toBe(base);
        expect(JSON.parse(now.text)).toEqual({ v: 1 });
      });
    }

    if (combo.store !== 'sqlite' && combo.store !== 'kysely-sqlite') {
      it.each(['before', 'after'] as const)(
        'a connection lost with the write (%s the store gets it) is a 503 "unknown"',
        async (when) => {
          const url = fresh();
          const base = await create(url, { v: 1 });
          backend.proxy!.cutAt(backend.writeMarker, when);
          const r = await send(url, 'PUT', { ...JSON_HEADERS, 'If-Match': base }, { v: 2 });
          expect(r.status).toBe(503);
          expect(JSON.parse(r.text)).toMatchObject({ status: 503, outcome: 'unknown' });
          const now = await send(url, 'GET', {});
          // The client was told "unknown": either state may be there, and it is consistent.
          expect(JSON.parse(now.text)).toEqual(when === 'before' ? { v: 1 } : { v: 2 });
        },
      );
    }
  });
}
