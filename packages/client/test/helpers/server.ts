// The real document server, in process, on an ephemeral loopback port.

import type { AddressInfo } from 'node:net';
import { buildApp } from '../../../server/src/http/app.js';
import { openStore } from '../../../server/src/store/open.js';

export interface RunningServer {
  url: string;
  /** Requests held by the live hub (long-polls) and open event streams. */
  waiters(): number;
  close(): Promise<void>;
}

export async function startServer(
  options: { db?: string; strict?: boolean; changeRetentionMs?: number } = {},
): Promise<RunningServer> {
  const store = await openStore(options.db ?? ':memory:', {
    synchronous: 'NORMAL',
    ...(options.changeRetentionMs === undefined
      ? {}
      : { changeRetentionMs: options.changeRetentionMs }),
  });
  const app = await buildApp({ store, strict: options.strict ?? false, defaultMetrics: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    waiters: () => (app as unknown as { live?: { size: number } }).live?.size ?? 0,
    async close() {
      if (closed) return;
      closed = true;
      const closing = app.close();
      // After an aborted fetch, Node's fetch (undici) opens a fresh keep-alive
      // connection that never carries a request; close() would wait for it
      // until headersTimeout. Give in-flight requests a moment, then cut the rest.
      const settled = await Promise.race([
        closing.then(() => true),
        new Promise<false>((resolve) => setTimeout(resolve, 1000, false).unref()),
      ]);
      if (!settled) app.server.closeAllConnections();
      await closing;
      await store.close();
    },
  };
}
