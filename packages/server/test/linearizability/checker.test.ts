// The checker itself, on hand-written histories whose answer is known, and on
// simulated concurrent histories that are linearizable by construction.

import { describe, expect, it } from 'vitest';
import { checkHistory, type Operation, type Request, type Response } from './checker.js';

let nextId = 0;
/** One operation on document "d" from `client` over [invoke, complete]. */
const op = (
  client: number,
  invoke: number,
  complete: number,
  request: Request,
  response: Response,
): Operation => ({
  id: nextId++,
  client,
  key: 'd',
  invoke,
  complete,
  request,
  response,
});
const get = (etag: string, body: string): Response => ({ status: 200, etag, body });
const absent: Response = { status: 404 };
const ok = (etag: string): Response => ({ status: 200, etag });
const created = (etag: string): Response => ({ status: 201, etag });
const failed = (etag?: string, body?: string): Response => ({
  status: 412,
  ...(etag ? { etag } : {}),
  ...(body ? { body } : {}),
});
const unknown: Response = { unknown: '503' };
const G: Request = { kind: 'get' };
const C = (body: string): Request => ({ kind: 'create', body });
const P = (ifMatch: string, body: string): Request => ({ kind: 'put', ifMatch, body });
const D = (ifMatch: string): Request => ({ kind: 'delete', ifMatch });

const verdict = (history: Operation[]) => checkHistory(history).linearizable;

describe('linearizability checker: hand-written histories', () => {
  it('accepts a sequential history of every operation kind', () => {
    const h = [
      op(1, 0, 1, G, absent),
      op(1, 2, 3, C('a'), created('"1"')),
      op(2, 4, 5, G, get('"1"', 'a')),
      op(2, 6, 7, { kind: 'get', ifNoneMatch: '"1"' }, { status: 304, etag: '"1"' }),
      op(2, 8, 9, P('"1"', 'b'), ok('"2"')),
      op(1, 10, 11, P('"1"', 'c'), failed('"2"')),
      op(1, 12, 13, C('x'), failed('"2"')),
      op(1, 14, 15, D('"2"'), { status: 204 }),
      op(2, 16, 17, G, absent),
      op(2, 18, 19, D('"2"'), failed()),
      op(2, 20, 21, D('"2"'), absent),
    ];
    expect(verdict(h)).toBe(true);
  });

  it('accepts a read concurrent with a write seeing either state', () => {
    const base = [op(1, 0, 1, C('a'), created('"1"')), op(1, 2, 6, P('"1"', 'b'), ok('"2"'))];
    expect(verdict([...base, op(2, 3, 4, G, get('"1"', 'a'))])).toBe(true);
    expect(verdict([...base, op(2, 3, 4, G, get('"2"', 'b'))])).toBe(true);
    // Two reads inside the write: old then new is fine, new then old is not.
    expect(
      verdict([...base, op(2, 3, 3.5, G, get('"1"', 'a')), op(3, 4, 4.5, G, get('"2"', 'b'))]),
    ).toBe(true);
    expect(
      verdict([...base, op(2, 3, 3.5, G, get('"2"', 'b')), op(3, 4, 4.5, G, get('"1"', 'a'))]),
    ).toBe(false);
  });

  it('rejects a stale read after an acknowledged write', () => {
    const h = [
      op(1, 0, 1, C('a'), created('"1"')),
      op(1, 2, 3, P('"1"', 'b'), ok('"2"')),
      op(2, 4, 5, G, get('"1"', 'a')),
    ];
    const v = checkHistory(h);
    expect(v.linearizable).toBe(false);
    if (v.linearizable === false) expect(v.reason).toMatch(/no order explains op/);
  });

  it('rejects a lost acknowledged write (a later 412 names the state before it)', () => {
    const h = [
      op(1, 0, 1, C('a'), created('"1"')),
      op(1, 2, 3, P('"1"', 'b'), ok('"2"')),
      op(2, 4, 5, P('"2"', 'c'), failed('"1"')),
    ];
    expect(verdict(h)).toBe(false);
    // The same 412 naming the acknowledged state is fine.
    expect(verdict([...h.slice(0, 2), op(2, 4, 5, P('"9"', 'c'), failed('"2"'))])).toBe(true);
  });

  it('rejects a deleted document that comes back without a write', () => {
    const h = [
      op(1, 0, 1, C('a'), created('"1"')),
      op(1, 2, 3, D('"1"'), { status: 204 }),
      op(2, 4, 5, G, get('"1"', 'a')),
    ];
    expect(verdict(h)).toBe(false);
    // Nor may a DELETE find it absent before it was deleted.
    expect(verdict([h[0]!, op(2, 2, 3, D('"9"'), absent)])).toBe(false);
  });

  it('rejects two winners on one If-Match, overlapping or not', () => {
    const c = op(1, 0, 1, C('a'), created('"1"'));
    expect(
      verdict([c, op(1, 2, 5, P('"1"', 'b'), ok('"2"')), op(2, 3, 4, P('"1"', 'c'), ok('"3"'))]),
    ).toBe(false);
    expect(
      verdict([c, op(1, 2, 3, P('"1"', 'b'), ok('"2"')), op(2, 4, 5, P('"1"', 'c'), ok('"3"'))]),
    ).toBe(false);
    // One winner, one loser told the winner's ETag: fine.
    expect(
      verdict([
        c,
        op(1, 2, 5, P('"1"', 'b'), ok('"2"')),
        op(2, 3, 4, P('"1"', 'c'), failed('"2"')),
      ]),
    ).toBe(true);
    // Two creates of one absent document both succeeding.
    expect(
      verdict([op(1, 0, 3, C('a'), created('"1"')), op(2, 1, 2, C('b'), created('"2"'))]),
    ).toBe(false);
  });

  it('rejects one ETag issued to two acknowledged writes', () => {
    const h = [
      op(1, 0, 1, C('a'), created('"1"')),
      op(1, 2, 3, P('"1"', 'b'), ok('"2"')),
      op(1, 4, 5, P('"2"', 'a'), ok('"1"')),
    ];
    const v = checkHistory(h);
    expect(v.linearizable).toBe(false);
    if (v.linearizable === false) expect(v.reason).toMatch(/issued to two/);
  });

  it('accepts an unknown write observed later, with an ETag nobody was told', () => {
    const h = [
      op(1, 0, 1, C('a'), created('"1"')),
      op(1, 2, 3, P('"1"', 'b'), unknown),
      op(2, 10, 11, G, get('"7"', 'b')),
      op(2, 12, 13, P('"7"', 'c'), ok('"8"')),
      op(1, 14, 15, G, get('"8"', 'c')),
    ];
    expect(verdict(h)).toBe(true);
    // Also when the only trace of it is a 412 naming its ETag.
    expect(verdict([...h.slice(0, 2), op(2, 10, 11, P('"1"', 'x'), failed('"7"'))])).toBe(true);
  });

  it('accepts an unknown write that took effect after a later read (it may land any time after invoke)', () => {
    const h = [
      op(1, 0, 1, C('a'), created('"1"')),
      op(1, 2, 3, P('"1"', 'b'), unknown),
      op(2, 10, 11, G, get('"1"', 'a')),
      op(2, 12, 13, G, get('"7"', 'b')),
    ];
    expect(verdict(h)).toBe(true);
  });

  it('accepts an unknown write never observed (it did not happen, or nobody looked)', () => {
    const h = [
      op(1, 0, 1, C('a'), created('"1"')),
      op(1, 2, 3, P('"1"', 'b'), unknown),
      op(2, 10, 11, G, get('"1"', 'a')),
      op(2, 12, 13, P('"1"', 'c'), ok('"2"')),
      op(1, 14, 15, D('"2"'), unknown),
      op(1, 16, 17, C('z'), unknown),
    ];
    expect(verdict(h)).toBe(true);
  });

  it('rejects what no unknown write can explain', () => {
    const start = [op(1, 0, 1, C('a'), created('"1"')), op(1, 2, 3, P('"1"', 'b'), unknown)];
    // An unseen ETag with bytes nobody sent.
    expect(verdict([...start, op(2, 10, 11, G, get('"7"', 'zzz'))])).toBe(false);
    // The unknown write observed, then the state before it again.
    expect(
      verdict([...start, op(2, 10, 11, G, get('"7"', 'b')), op(2, 12, 13, G, get('"1"', 'a'))]),
    ).toBe(false);
    // One unknown write cannot explain two different unseen ETags.
    expect(
      verdict([...start, op(2, 10, 11, G, get('"7"', 'b')), op(2, 12, 13, G, get('"8"', 'b'))]),
    ).toBe(false);
    // An unknown write whose If-Match was already stale when it was sent.
    expect(
      verdict([
        op(1, 0, 1, C('a'), created('"1"')),
        op(1, 2, 3, P('"1"', 'b'), ok('"2"')),
        op(2, 4, 5, P('"1"', 'c'), unknown),
        op(1, 10, 11, G, get('"7"', 'c')),
      ]),
    ).toBe(false);
    // One ETag shown with two bodies.
    expect(
      verdict([...start, op(2, 10, 11, G, get('"7"', 'b')), op(2, 12, 13, G, get('"7"', 'c'))]),
    ).toBe(false);
  });

  it('checks documents independently', () => {
    const other = (o: Operation): Operation => ({ ...o, key: 'e', id: nextId++ });
    const a = op(1, 0, 1, C('a'), created('"1"'));
    // "e" was never written, so its read of "1" is impossible even though "d" has it.
    expect(verdict([a, other(op(2, 2, 3, G, get('"1"', 'a')))])).toBe(false);
    expect(verdict([a, op(2, 2, 3, G, get('"1"', 'a')), other(op(2, 4, 5, G, absent))])).toBe(true);
  });
});

/**
 * A simulated server: each operation takes effect atomically at a random
 * moment inside its interval, so the history is linearizable by construction.
 * Some writes get an unknown response; half of those never take effect.
 */
function simulate(clients: number, perClient: number, seed: number): Operation[] {
  let x = seed;
  const rand = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x80000000;
  };
  let doc: { etag: string; body: string } | null = null;
  let version = 0;
  type Event = { t: number; kind: 'invoke' | 'apply' | 'complete'; client: number };
  const events: Event[] = [];
  const seen: (string | undefined)[] = Array(clients).fill(undefined);
  const done: number[] = Array(clients).fill(0);
  const pending: ({ op: Operation; applies: boolean; response?: Response } | undefined)[] =
    Array(clients);
  const history: Operation[] = [];
  for (let c = 0; c < clients; c++) events.push({ t: rand(), kind: 'invoke', client: c });
  let id = 0;
  while (events.length > 0) {
    events.sort((a, b) => a.t - b.t);
    const e = events.shift()!;
    const c = e.client;
    if (e.kind === 'invoke') {
      const r = rand();
      const body = `c${c}-${done[c]}`;
      const request: Request =
        r < 0.4
          ? { kind: 'get' }
          : r < 0.5 || seen[c] === undefined
            ? { kind: 'create', body }
            : r < 0.9
              ? { kind: 'put', ifMatch: seen[c]!, body }
              : { kind: 'delete', ifMatch: seen[c]! };
      const op: Operation = {
        id: id++,
        client: c,
        key: 'd',
        invoke: e.t,
        complete: 0,
        request,
        response: unknown,
      };
      const lost = request.kind !== 'get' && rand() < 0.1;
      pending[c] = { op, applies: !(lost && rand() < 0.5) };
      const applyAt = e.t + rand() * 3;
      events.push({ t: applyAt, kind: 'apply', client: c });
      events.push({ t: applyAt + rand() * 3, kind: 'complete', client: c });
      if (lost) pending[c]!.response = unknown;
    } else if (e.kind === 'apply') {
      const p = pending[c]!;
      const req = p.op.request;
      if (!p.applies) continue;
      let res: Response;
      if (req.kind === 'get') res = doc ? get(doc.etag, doc.body) : absent;
      else if (req.kind === 'create') {
        if (doc) res = failed(doc.etag, doc.body);
        else {
          doc = { etag: `"${++version}"`, body: req.body };
          res = created(doc.etag);
        }
      } else if (doc?.etag !== req.ifMatch) res = failed(doc?.etag, doc?.body);
      else if (req.kind === 'put') {
        doc = { etag: `"${++version}"`, body: req.body };
        res = ok(doc.etag);
      } else {
        doc = null;
        res = { status: 204 };
      }
      p.response ??= res;
    } else {
      const p = pending[c]!;
      p.op.complete = e.t;
      p.op.response = p.response!;
      history.push(p.op);
      const res = p.op.response;
      if (!('unknown' in res) && res.etag) seen[c] = res.etag;
      if (!('unknown' in res) && res.status === 404) seen[c] = undefined;
      if (++done[c]! < perClient) events.push({ t: e.t + rand(), kind: 'invoke', client: c });
    }
  }
  return history;
}

describe('linearizability checker: simulated concurrent histories', () => {
  it('accepts 8 clients x 500 operations with unknown writes, quickly', () => {
    for (const seed of [1, 2, 3]) {
      const h = simulate(8, 500, seed);
      expect(h.length).toBe(4000);
      const started = Date.now();
      const v = checkHistory(h);
      expect(v.linearizable).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
  });

  it('rejects the same histories with one acknowledged write swapped for a different ETag', () => {
    let rejected = 0;
    for (const seed of [4, 5, 6, 7, 8]) {
      const h = simulate(8, 200, seed);
      // Re-label one acknowledged write's ETag, keeping every later observation:
      // a later read of the original ETag then has no write that produced it.
      const i = h.findIndex(
        (o, k) =>
          k > 100 &&
          o.request.kind === 'put' &&
          !('unknown' in o.response) &&
          o.response.status === 200,
      );
      const target = h[i]!;
      const etag = (target.response as { etag: string }).etag;
      const readLater = h.some(
        (o) => o.invoke > target.complete && !('unknown' in o.response) && o.response.etag === etag,
      );
      if (!readLater) continue;
      const mutated = h.map((o) => (o === target ? { ...o, response: ok('"forged"') } : o));
      if (checkHistory(mutated).linearizable === false) rejected++;
    }
    expect(rejected).toBeGreaterThan(0);
  });
});
