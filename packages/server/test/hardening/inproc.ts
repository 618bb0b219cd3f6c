// The app in this process, listening on an ephemeral loopback port, on a real
// SQLite store: for the tests that need server options (timeouts, auth) and
// direct store access for setup.

import type { FastifyInstance } from 'fastify';
import { type AppOptions, buildApp } from '../../src/http/app.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { DocumentStore } from '../../src/store/types.js';

export interface RunningApp {
  app: FastifyInstance;
  store: DocumentStore;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApp(options: Omit<AppOptions, 'store'> = {}): Promise<RunningApp> {
  const store = openSqliteStore(':memory:');
  const app = await buildApp({ defaultMetrics: false, ...options, store });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    app,
    store,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

/** Sends raw bytes on a fresh socket; resolves with everything the server sent before closing. */
export async function rawExchange(
  port: number,
  chunks: (string | Buffer)[],
  options: { endAfterWrite?: boolean; timeoutMs?: number } = {},
): Promise<{ text: string; closed: 'end' | 'reset' | 'timeout' }> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let closed: 'end' | 'reset' | 'timeout' = 'end';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    socket.on('error', () => {
      closed = 'reset';
    });
    socket.on('close', () => resolve({ text, closed }));
    socket.setTimeout(options.timeoutMs ?? 10_000, () => {
      closed = 'timeout';
      socket.destroy();
    });
    for (const chunk of chunks) socket.write(chunk);
    if (options.endAfterWrite) socket.end();
  });
}
