// The real document server, in process, on an ephemeral loopback port.

import type { AddressInfo } from 'node:net';
import { buildApp } from '../../../server/src/http/app.js';
import { openStore } from '../../../server/src/store/open.js';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export async function startServer(
  options: { db?: string; strict?: boolean } = {},
): Promise<RunningServer> {
  const store = await openStore(options.db ?? ':memory:', { synchronous: 'NORMAL' });
  const app = await buildApp({ store, strict: options.strict ?? false, defaultMetrics: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await store.close();
    },
  };
}
