// The README quotes these examples verbatim: prove each one runs and behaves.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import * as expressExample from '../../examples/express.js';
import * as fastifyExample from '../../examples/fastify.js';
import * as honoExample from '../../examples/hono.js';
import * as nodeExample from '../../examples/node.js';
import { raw } from './suite.js';

type Start = () => Promise<{ url: string; close: () => Promise<void> }>;

const examples: Array<[string, Start]> = [
  ['node', nodeExample.start],
  ['fastify', fastifyExample.start],
  ['express', expressExample.start],
  ['hono', honoExample.start],
];

describe.each(examples)('examples/%s.ts', (name, start) => {
  it('is quoted verbatim in the README', async () => {
    const root = new URL('../../', import.meta.url);
    const source = await readFile(new URL(`examples/${name}.ts`, root), 'utf8');
    const readme = await readFile(new URL('README.md', root), 'utf8');
    expect(readme).toContain('```ts\n' + source.trimEnd() + '\n```');
  });

  it('revalidates with 304, refuses blind and stale writes, accepts a current one', async () => {
    const { url, close } = await start();
    try {
      const first = await fetch(`${url}/note`);
      expect(first.status).toBe(200);
      const etag = first.headers.get('etag')!;
      expect(etag).toMatch(/^"v\d+"$/);
      expect(first.headers.get('last-modified')).toMatch(/ GMT$/);
      expect(await first.text()).toContain('hello');

      const again = await raw(url, 'GET', '/note', [`If-None-Match: ${etag}`]);
      expect(again.status).toBe(304);
      expect(again.headers.has('content-type')).toBe(false);
      expect(again.headers.has('content-length')).toBe(false);
      expect(again.body).toBe('');

      const text = { 'Content-Type': 'text/plain' };
      const blind = await fetch(`${url}/note`, { method: 'PUT', headers: text, body: 'x' });
      expect(blind.status).toBe(428);
      expect(blind.headers.get('content-type')).toMatch(/problem\+json/);

      const put = { method: 'PUT', headers: { ...text, 'If-Match': etag }, body: 'world' };
      const written = await fetch(`${url}/note`, put);
      expect(written.status).toBe(204);
      const next = written.headers.get('etag');
      expect(next).not.toBe(etag);

      const stale = await fetch(`${url}/note`, { ...put, body: 'lost?' });
      expect(stale.status).toBe(412);
      expect(stale.headers.get('etag')).toBe(next);
      expect(await (await fetch(`${url}/note`)).text()).toContain('world');

      const hello = await fetch(`${url}/hello`);
      expect(await hello.text()).toBe('Hello, world!');
      const helloTag = hello.headers.get('etag')!;
      expect(helloTag).toMatch(/^"/);
      const helloAgain = await fetch(`${url}/hello`, { headers: { 'If-None-Match': helloTag } });
      expect(helloAgain.status).toBe(304);
    } finally {
      await close();
    }
  });
});
