// The README quotes these examples verbatim: prove each one runs and behaves,
// on SQLite and on PostgreSQL, through openNotes() as `npm run example` does.
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  describePostgres,
  type TestDatabase,
} from '../../../server/test/postgres/pg.js';
import * as expressExample from '../../examples/express.js';
import * as fastifyExample from '../../examples/fastify.js';
import * as honoExample from '../../examples/hono.js';
import * as nodeExample from '../../examples/node.js';
import { openNotes } from '../../examples/notes.js';

type Start = (notes: Awaited<ReturnType<typeof openNotes>>['notes']) => Promise<{
  url: string;
  close: () => Promise<unknown>;
}>;

const examples: Array<[string, Start]> = [
  ['node', (n) => nodeExample.start(n)],
  ['fastify', (n) => fastifyExample.start(n)],
  ['express', (n) => expressExample.start(n)],
  ['hono', (n) => honoExample.start(n)],
];

describe.each(['node', 'fastify', 'express', 'hono', 'notes', 'main'])('examples/%s.ts', (name) => {
  it('is quoted verbatim in the README', async () => {
    const root = new URL('../../', import.meta.url);
    const source = await readFile(new URL(`examples/${name}.ts`, root), 'utf8');
    const readme = await readFile(new URL('README.md', root), 'utf8');
    expect(readme).toContain('```ts\n' + source.trimEnd() + '\n```');
  });
});

/**
 * One request by fetch, in the shape of suite.ts's raw() (which half-closes the
 * socket, and Node's server drops a response still being computed then).
 */
async function raw(
  base: string,
  method: string,
  path: string,
  lines: string[] = [],
  body?: string,
) {
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
  const res = await fetch(base + path, { method, headers, body });
  const map = new Map<string, string[]>();
  res.headers.forEach((value, name) => {
    map.set(name, [value]);
  });
  return { status: res.status, headers: map, body: await res.text() };
}

const J = 'Content-Type: application/json';
const MERGE = 'Content-Type: application/merge-patch+json';

function walkthrough(db: () => string) {
  describe.each(examples)('%s', (_name, start) => {
    let app: { url: string; close: () => Promise<unknown> };
    let closeDb: () => Promise<void>;
    beforeAll(async () => {
      const opened = await openNotes(db());
      closeDb = opened.close;
      app = await start(opened.notes);
    });
    afterAll(async () => {
      await app?.close();
      await closeDb?.();
    });

    it('GET/HEAD/304, PUT create and replace, PATCH, DELETE, 428, 412 and bad input', async () => {
      const id = `/notes/w${Math.random().toString(36).slice(2, 8)}`;
      const problem = (r: { headers: Map<string, string[]>; body: string }) => {
        expect(r.headers.get('content-type')?.[0]).toMatch(/^application\/problem\+json/);
        return JSON.parse(r.body) as Record<string, unknown>;
      };
      expect((await raw(app.url, 'GET', id)).status).toBe(404);
      // Strict: a write without a precondition is 428, before anything is written.
      expect(problem(await raw(app.url, 'PUT', id, [J], '{"a":1}')).status).toBe(428);
      // Bad input comes first (400/415), and nothing is created.
      expect((await raw(app.url, 'PUT', id, [J, 'If-None-Match: *'], '{oops')).status).toBe(400);
      expect(
        (await raw(app.url, 'PUT', id, ['Content-Type: text/plain', 'If-None-Match: *'], 'x'))
          .status,
      ).toBe(415);
      expect((await raw(app.url, 'GET', id)).status).toBe(404);

      const created = await raw(app.url, 'PUT', id, [J, 'If-None-Match: *'], '{"a":1}');
      expect(created.status).toBe(201);
      const v1 = created.headers.get('etag')![0]!;
      expect(created.headers.get('last-modified')?.[0]).toMatch(/ GMT$/);
      const again = await raw(app.url, 'PUT', id, [J, 'If-None-Match: *'], '{"a":2}');
      expect(problem(again).detail).toBe(
        'The resource already exists (If-None-Match: *), so it was not created.',
      );
      expect(again.headers.get('etag')?.[0]).toBe(v1);

      const got = await raw(app.url, 'GET', id);
      expect(got.status).toBe(200);
      expect(got.headers.get('etag')?.[0]).toBe(v1);
      expect(got.headers.get('last-modified')?.[0]).toMatch(/ GMT$/);
      expect(JSON.parse(got.body)).toEqual({ a: 1 });
      const head = await raw(app.url, 'HEAD', id);
      expect([head.status, head.headers.get('etag')?.[0], head.body]).toEqual([200, v1, '']);
      const notModified = await raw(app.url, 'GET', id, [`If-None-Match: ${v1}`]);
      expect(notModified.status).toBe(304);
      expect(notModified.headers.has('content-length')).toBe(false);
      expect(notModified.body).toBe('');

      const replaced = await raw(app.url, 'PUT', id, [J, `If-Match: ${v1}`], '{"a":2,"b":true}');
      expect(replaced.status).toBe(204);
      const v2 = replaced.headers.get('etag')![0]!;
      expect(v2).not.toBe(v1);
      const stale = await raw(app.url, 'PUT', id, [J, `If-Match: ${v1}`], '{"lost":true}');
      expect(problem(stale)).toMatchObject({ status: 412, precondition: 'If-Match', etag: v2 });
      expect(stale.headers.get('etag')?.[0]).toBe(v2);
      const malformed = await raw(app.url, 'PUT', id, [J, 'If-Match: v2'], '{"lost":true}');
      expect(problem(malformed)).toMatchObject({ status: 412, malformed: true });

      expect((await raw(app.url, 'PATCH', id, [J, `If-Match: ${v2}`], '{"a":3}')).status).toBe(415);
      expect(problem(await raw(app.url, 'PATCH', id, [MERGE], '{"a":3}')).status).toBe(428);
      const patched = await raw(
        app.url,
        'PATCH',
        id,
        [MERGE, `If-Match: ${v2}`],
        '{"a":3,"b":null}',
      );
      expect(patched.status).toBe(200);
      expect(JSON.parse(patched.body)).toEqual({ a: 3 });
      const v3 = patched.headers.get('etag')![0]!;
      expect(
        problem(await raw(app.url, 'PATCH', id, [MERGE, `If-Match: ${v2}`], '{"a":4}')).status,
      ).toBe(412);
      expect(
        problem(
          await raw(app.url, 'PATCH', id, [MERGE, `If-Match: ${v3}`], '{"__proto__":{"x":1}}'),
        ).status,
      ).toBe(422);

      expect(problem(await raw(app.url, 'DELETE', id)).status).toBe(428);
      expect(problem(await raw(app.url, 'DELETE', id, [`If-Match: ${v2}`])).etag).toBe(v3);
      expect((await raw(app.url, 'DELETE', id, [`If-Match: ${v3}`])).status).toBe(204);
      expect((await raw(app.url, 'GET', id)).status).toBe(404);
      expect((await raw(app.url, 'DELETE', id, [`If-Match: ${v3}`])).status).toBe(404);
      expect((await raw(app.url, 'PATCH', id, [MERGE, `If-Match: ${v3}`], '{}')).status).toBe(404);
    });
  });
}

describe('on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifmatch-examples-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  walkthrough(() => join(dir, 'notes.db'));
});

let db: TestDatabase | undefined;
await describePostgres('on PostgreSQL', () => {
  beforeAll(async () => {
    db = await createTestDatabase('ifmatch_examples');
  });
  afterAll(async () => {
    await db?.drop();
  });
  walkthrough(() => db!.url);
});
