// A raw TCP relay (node:net) that delays every chunk in both directions, so a
// check-then-write window between an app and its database cannot hide on
// loopback. It can also cut the connection at the next chunk that contains a
// marker (e.g. an UPDATE statement): before forwarding it (the database never
// sees it) or after (it ran, but the app never hears back).
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

export interface LatencyProxy {
  /** 127.0.0.1 port to connect to instead of the target's. */
  port: number;
  /** Cut the connection carrying the next chunk that contains `marker`. */
  cutAt(marker: string, when: 'before' | 'after'): void;
  close(): Promise<void>;
}

/** Forward 127.0.0.1:<port> to `target`, holding each chunk `delayMs` in each direction. */
export async function latencyProxy(
  target: { host: string; port: number },
  delayMs = 3,
): Promise<LatencyProxy> {
  const sockets = new Set<Socket>();
  let cut: { marker: string; when: 'before' | 'after' } | undefined;
  // Chunks keep their order: each direction is a queue released after the delay.
  const relay = (from: Socket, to: Socket, pair: { deaf: boolean }, inspect: boolean) => {
    from.on('data', (chunk: Buffer) => {
      if (inspect && cut !== undefined && chunk.includes(cut.marker)) {
        const { when } = cut;
        cut = undefined;
        // 'after': the statement reaches the database, its answer never comes back.
        if (when === 'after') pair.deaf = true;
        setTimeout(() => {
          if (when === 'after') to.write(chunk);
          setTimeout(
            () => {
              from.destroy();
              to.destroy();
            },
            when === 'after' ? 50 : 0,
          );
        }, delayMs);
        return;
      }
      if (!inspect && pair.deaf) return;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, delayMs);
    });
  };
  const server = createServer((inbound) => {
    const outbound = connect(target.port, target.host);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
      s.setNoDelay(true);
    }
    const pair = { deaf: false };
    relay(inbound, outbound, pair, true);
    relay(outbound, inbound, pair, false);
    inbound.on('end', () => outbound.end());
    outbound.on('end', () => inbound.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cutAt(marker, when) {
      cut = { marker, when };
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
