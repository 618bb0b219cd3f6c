// The behaviour every adapter must show, run against a real framework instance
// over loopback. Each adapter's test file builds the same small app (a document
// route in validator-first mode, /hash/* routes in body-hash mode) and calls
// adapterSuite(). Wire-level checks use a raw socket: fetch hides Content-Length.
import { connect } from 'node:net';
import { bytesETag, formatHttpDate, type Validators } from '@ifmatch/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

export interface Doc {
  version: number;
  body: string;
  modified: number;
}

const MODIFIED = Date.UTC(2024, 0, 2, 3, 4, 5);

/** The app's state: documents, call counter of the document handler, body-hash text. */
export class Fixture {
  docs = new Map<string, Doc>();
  calls = 0;
  hashBody = 'hello';
  constructor() {
    this.reset();
  }
  reset(): void {
    this.docs = new Map([['a', { version: 1, body: '{"n":1}', modified: MODIFIED }]]);
    this.calls = 0;
    this.hashBody = 'hello';
  }
  /** What the validators fn of every adapter returns: no body read. */
  validators(id: string): Validators {
    const doc = this.docs.get(id);
    return doc === undefined
      ? { exists: false }
      : { exists: true, etag: `"v${doc.version}"`, lastModified: doc.modified };
  }
  /** PUT: create or replace; returns the status and new ETag the handler answers with. */
  put(id: string, body: string): { status: number; etag: string } {
    const doc = this.docs.get(id);
    const version = (doc?.version ?? 0) + 1;
    this.docs.set(id, { version, body, modified: MODIFIED + version * 1000 });
    return { status: doc === undefined ? 201 : 200, etag: `"v${version}"` };
  }
}

export interface Running {
  url: string;
  close(): Promise<void>;
}

/**
 * What each adapter's app must do:
 *  - every response: `Cache-Control: no-cache` and `Access-Control-Allow-Origin: *`
 *    set BEFORE the preconditions run (to prove a 304 keeps them);
 *  - /doc/:id GET/HEAD/PUT/DELETE in validator-first mode (validators = fixture.validators(id)),
 *    handler increments fixture.calls, GET answers 200 application/json doc.body with header
 *    `x-seen-etag` = the etag the adapter exposed to it (or 404), PUT uses fixture.put,
 *    answers its status with the ETag, DELETE answers 204 (or 404);
 *  - /hash/plain GET: 200 text/plain fixture.hashBody; /hash/own: same with ETag "own";
 *    /hash/missing: 404 text; /hash/stream: a streamed 200 body, all in body-hash mode.
 */
export type StartApp = (fixture: Fixture, options: { strict: boolean }) => Promise<Running>;

export interface RawResponse {
  status: number;
  headers: Map<string, string[]>;
  body: string;
}

/** One HTTP/1.1 exchange over a raw socket: the exact header lines and body bytes. */
export function raw(
  base: string,
  method: string,
  path: string,
  headerLines: string[] = [],
  body = '',
): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split).split('\r\n');
      const headers = new Map<string, string[]>();
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim().toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
      }
      let rest = text.slice(split + 4);
      if (headers.get('transfer-encoding')?.[0] === 'chunked') rest = unchunk(rest);
      resolve({ status: Number(head[0]!.split(' ')[1]), headers, body: rest });
    });
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}`, 'Connection: close'];
    if (body !== '') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    socket.end([...lines, ...headerLines, '', body].join('\r\n'));
  });
}

function unchunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

const h = (r: RawResponse, name: string) => r.headers.get(name)?.join(', ');

/** A 304 on the wire: RFC 9110 15.4.5 fields only, and no body. */
function expectBare304(r: RawResponse, etag: string): void {
  expect(r.status).toBe(304);
  expect(h(r, 'etag')).toBe(etag);
  expect(h(r, 'cache-control')).toBe('no-cache');
  expect(h(r, 'access-control-allow-origin')).toBe('*');
  expect(h(r, 'date')).toBeDefined();
  expect(r.headers.has('content-type')).toBe(false);
  expect(r.headers.has('content-length')).toBe(false);
  expect(r.headers.has('transfer-encoding')).toBe(false);
  expect(r.headers.has('last-modified')).toBe(false); // an ETag is there to validate with
  expect(r.body).toBe('');
}

function expectProblem(r: RawResponse, status: number): Record<string, unknown> {
  expect(r.status).toBe(status);
  expect(h(r, 'content-type')).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(r.body) as Record<string, unknown>;
  expect(problem['status']).toBe(status);
  expect(typeof problem['detail']).toBe('string');
  return problem;
}

const LM = formatHttpDate(MODIFIED);
const BEFORE = formatHttpDate(MODIFIED - 60_000);

export function adapterSuite(name: string, start: StartApp): void {
  describe(`${name} adapter`, () => {
    const fixture = new Fixture();
    let app: Running;
    let strictApp: Running;
    beforeAll(async () => {
      app = await start(fixture, { strict: false });
      strictApp = await start(fixture, { strict: true });
    });
    afterAll(async () => {
      await app?.close();
      await strictApp?.close();
    });
    beforeEach(() => fixture.reset());

    it('200 carries ETag and Last-Modified and exposes the validators to the handler', async () => {
      const r = await raw(app.url, 'GET', '/doc/a');
      expect(r.status).toBe(200);
      expect(h(r, 'etag')).toBe('"v1"');
      expect(h(r, 'last-modified')).toBe(LM);
      expect(h(r, 'x-seen-etag')).toBe('"v1"');
      expect(r.body).toBe('{"n":1}');
      expect(fixture.calls).toBe(1);
    });

    // [method, request header lines, expected status]
    const reads: Array<[string, string, string[], number]> = [
      ['strong If-None-Match', 'GET', ['If-None-Match: "v1"'], 304],
      ['weak If-None-Match (weak comparison)', 'GET', ['If-None-Match: W/"v1"'], 304],
      ['If-None-Match in a list', 'GET', ['If-None-Match: "x", "v1"'], 304],
      ['If-None-Match: *', 'GET', ['If-None-Match: *'], 304],
      ['HEAD with If-None-Match', 'HEAD', ['If-None-Match: "v1"'], 304],
      ['If-Modified-Since = Last-Modified', 'GET', [`If-Modified-Since: ${LM}`], 304],
      ['stale If-None-Match', 'GET', ['If-None-Match: "v0"'], 200],
      ['If-Modified-Since before the change', 'GET', [`If-Modified-Since: ${BEFORE}`], 200],
      [
        'If-None-Match wins over If-Modified-Since',
        'GET',
        ['If-None-Match: "v0"', `If-Modified-Since: ${LM}`],
        200,
      ],
      ['invalid If-Modified-Since is ignored', 'GET', ['If-Modified-Since: yesterday'], 200],
      ['If-Match true on GET', 'GET', ['If-Match: "v1"'], 200],
      // Repeated lines and any spelling of a name (the adapters read the raw field lines).
      [
        'If-None-Match on two lines, the current tag on the second',
        'GET',
        ['If-None-Match: "v0"', 'If-None-Match: "v1"'],
        304,
      ],
      ['names in any case', 'GET', ['iF-nOnE-mAtCh: "v1"'], 304],
      [
        'If-None-Match on two lines under two spellings',
        'GET',
        ['if-none-match: "v0"', 'IF-NONE-MATCH: "v1"'],
        304,
      ],
    ];
    it.each(reads)('%s', async (_label, method, lines, status) => {
      const r = await raw(app.url, method, '/doc/a', lines);
      if (status === 304) {
        expectBare304(r, '"v1"');
        expect(fixture.calls).toBe(0); // the handler never ran
      } else {
        expect(r.status).toBe(status);
        expect(h(r, 'etag')).toBe('"v1"');
        expect(fixture.calls).toBe(1);
      }
    });

    const failures: Array<[string, string, string[], string]> = [
      ['PUT with a stale If-Match', 'PUT', ['If-Match: "v0"'], 'If-Match'],
      ['DELETE with a stale If-Match', 'DELETE', ['If-Match: "v0"'], 'If-Match'],
      ['PUT with a weak If-Match (strong comparison)', 'PUT', ['If-Match: W/"v1"'], 'If-Match'],
      ['DELETE with a malformed If-Match', 'DELETE', ['If-Match: v1'], 'If-Match'],
      [
        'PUT with If-None-Match: * to an existing doc',
        'PUT',
        ['If-None-Match: *'],
        'If-None-Match',
      ],
      [
        'PUT with an old If-Unmodified-Since',
        'PUT',
        [`If-Unmodified-Since: ${BEFORE}`],
        'If-Unmodified-Since',
      ],
      [
        'two If-Match lines, none current',
        'DELETE',
        ['If-Match: "v0"', 'If-Match: "v2"'],
        'If-Match',
      ],
    ];
    it.each(failures)('412: %s', async (_label, method, lines, precondition) => {
      const r = await raw(
        app.url,
        method,
        '/doc/a',
        method === 'PUT' ? [...lines, 'Content-Type: application/json'] : lines,
        method === 'PUT' ? '{"n":2}' : '',
      );
      const problem = expectProblem(r, 412);
      expect(problem['precondition']).toBe(precondition);
      expect(h(r, 'etag')).toBe('"v1"'); // the current tag, to re-read or merge
      expect(fixture.calls).toBe(0);
      expect(fixture.docs.get('a')?.version).toBe(1);
    });

    it('repeated If-Match lines are one list: a current tag on the second line passes', async () => {
      const r = await raw(app.url, 'DELETE', '/doc/a', ['If-Match: "v0"', 'If-Match: "v1"']);
      expect(r.status).toBe(204);
      expect(fixture.calls).toBe(1);
    });

    it('PUT with the current If-Match runs the handler, which sets the new ETag', async () => {
      const r = await raw(
        app.url,
        'PUT',
        '/doc/a',
        ['If-Match: "v1"', 'Content-Type: application/json'],
        '{"n":2}',
      );
      expect(r.status).toBe(200);
      expect(h(r, 'etag')).toBe('"v2"');
      expect(fixture.docs.get('a')?.body).toBe('{"n":2}');
    });

    describe('13.2.1: an absent target', () => {
      it.each([
        ['GET', ['If-Match: "x"']],
        ['GET', ['If-None-Match: *']],
        ['HEAD', ['If-Match: "x"']],
        ['DELETE', ['If-Match: "x"']],
        ['DELETE', ['If-None-Match: "x"', `If-Unmodified-Since: ${BEFORE}`]],
      ])('%s %j gets the handler 404, not 412', async (method, lines) => {
        const r = await raw(app.url, method, '/doc/missing', lines);
        expect(r.status).toBe(404);
        expect(fixture.calls).toBe(1);
      });

      it('PUT with If-Match to an absent doc: 412 without ETag, handler not called', async () => {
        const r = await raw(
          app.url,
          'PUT',
          '/doc/missing',
          ['If-Match: "x"', 'Content-Type: application/json'],
          '{}',
        );
        expectProblem(r, 412);
        expect(r.headers.has('etag')).toBe(false);
        expect(fixture.calls).toBe(0);
        expect(fixture.docs.has('missing')).toBe(false);
      });

      it('PUT with If-None-Match: * to an absent doc proceeds and creates', async () => {
        const r = await raw(
          app.url,
          'PUT',
          '/doc/missing',
          ['If-None-Match: *', 'Content-Type: application/json'],
          '{"new":true}',
        );
        expect(r.status).toBe(201);
        expect(h(r, 'etag')).toBe('"v1"');
        expect(fixture.docs.get('missing')?.body).toBe('{"new":true}');
      });
    });

    describe('strict mode (428)', () => {
      it.each(['PUT', 'DELETE'])('%s without If-Match/If-None-Match is 428', async (method) => {
        const r = await raw(
          strictApp.url,
          method,
          '/doc/a',
          method === 'PUT' ? ['Content-Type: application/json'] : [],
          method === 'PUT' ? '{"n":2}' : '',
        );
        expectProblem(r, 428);
        expect(fixture.calls).toBe(0);
        expect(fixture.docs.get('a')?.version).toBe(1);
      });

      it('PUT to an absent doc without precondition is 428 too (it would create)', async () => {
        const r = await raw(
          strictApp.url,
          'PUT',
          '/doc/missing',
          ['Content-Type: application/json'],
          '{}',
        );
        expectProblem(r, 428);
      });

      it('DELETE of an absent doc without precondition is the handler 404', async () => {
        const r = await raw(strictApp.url, 'DELETE', '/doc/missing');
        expect(r.status).toBe(404);
      });

      it('GET needs no precondition; a write with If-Match goes through', async () => {
        expect((await raw(strictApp.url, 'GET', '/doc/a')).status).toBe(200);
        const r = await raw(strictApp.url, 'DELETE', '/doc/a', ['If-Match: "v1"']);
        expect(r.status).toBe(204);
      });

      it('a non-strict app lets a blind write through', async () => {
        const r = await raw(app.url, 'DELETE', '/doc/a');
        expect(r.status).toBe(204);
      });
    });

    describe('body-hash mode', () => {
      it('200 with a strong ETag of the bytes, then 304, then 200 when the body changes', async () => {
        const first = await raw(app.url, 'GET', '/hash/plain');
        expect(first.status).toBe(200);
        expect(first.body).toBe('hello');
        const etag = bytesETag('hello');
        expect(h(first, 'etag')).toBe(etag);
        expect(etag.startsWith('W/')).toBe(false);

        expectBare304(await raw(app.url, 'GET', '/hash/plain', [`If-None-Match: ${etag}`]), etag);
        expectBare304(await raw(app.url, 'GET', '/hash/plain', [`If-None-Match: W/${etag}`]), etag);
        expectBare304(await raw(app.url, 'HEAD', '/hash/plain', [`If-None-Match: ${etag}`]), etag);

        fixture.hashBody = 'hello, world';
        const changed = await raw(app.url, 'GET', '/hash/plain', [`If-None-Match: ${etag}`]);
        expect(changed.status).toBe(200);
        expect(changed.body).toBe('hello, world');
        expect(h(changed, 'etag')).toBe(bytesETag('hello, world'));
      });

      it('HEAD gets the same ETag as GET', async () => {
        const r = await raw(app.url, 'HEAD', '/hash/plain');
        expect(r.status).toBe(200);
        expect(h(r, 'etag')).toBe(bytesETag('hello'));
        expect(r.body).toBe('');
      });

      it('a response that has its own ETag is left untouched', async () => {
        const r = await raw(app.url, 'GET', '/hash/own');
        expect(r.status).toBe(200);
        expect(h(r, 'etag')).toBe('"own"');
      });

      it('a non-2xx response gets no ETag and no 304', async () => {
        const r = await raw(app.url, 'GET', '/hash/missing', ['If-None-Match: *']);
        expect(r.status).toBe(404);
        expect(r.headers.has('etag')).toBe(false);
      });

      it('a streamed body is left untouched', async () => {
        const r = await raw(app.url, 'GET', '/hash/stream');
        expect(r.status).toBe(200);
        expect(r.body).toBe('one two ');
        expect(r.headers.has('etag')).toBe(false);
      });
    });
  });
}
