// Starts the real app on an ephemeral loopback port over a store from a factory.
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { type AppOptions, buildApp } from '../../src/http/app.js';
import type { DocumentStore } from '../../src/store/types.js';
import type { StoreFactory } from './stores.js';

export interface TestServer {
  base: string;
  port: number;
  app: FastifyInstance;
  store: DocumentStore;
  close: () => Promise<void>;
}

export async function startTestServer(
  factory: StoreFactory,
  options: Omit<AppOptions, 'store'> = {},
): Promise<TestServer> {
  const store = await factory.open();
  const app = await buildApp({ defaultMetrics: false, ...options, store });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    base: `http://127.0.0.1:${address.port}`,
    port: address.port,
    app,
    store,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

/** PUT a JSON document; returns the response. */
export function put(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(base + path, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function problemOf(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status: res.status });
  for (const member of ['type', 'title', 'detail']) expect(typeof body[member]).toBe('string');
  return body;
}
