// A TCP relay between one server instance and PostgreSQL that misbehaves at
// random: it cuts connections (mid-query, mid-transaction), stalls all
// traffic for a while, and cuts a connection right after forwarding a COMMIT
// (committed, but the server never hears so: the unknown-outcome case).

import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { ADMIN_URL } from '../postgres/pg.js';

export interface FaultCounts {
  cuts: number;
  stalls: number;
  commitCuts: number;
}

export interface FaultyRelay {
  url(database: string): string;
  counts: FaultCounts;
  /** Starts injecting one fault every 100-600 ms until stopped. */
  startChaos(): void;
  stopChaos(): void;
  close(): Promise<void>;
}

interface Pair {
  inbound: Socket;
  outbound: Socket;
  /** Forward the next COMMIT, then cut before its answer comes back. */
  cutAfterCommit: boolean;
}

export async function faultyRelayToPostgres(): Promise<FaultyRelay> {
  const target = new URL(ADMIN_URL);
  const pairs = new Set<Pair>();
  const counts: FaultCounts = { cuts: 0, stalls: 0, commitCuts: 0 };
  let stalledUntil = 0;
  const cut = (p: Pair) => {
    p.inbound.destroy();
    p.outbound.destroy();
    pairs.delete(p);
  };
  // Data is held, not dropped, during a stall: TCP itself would deliver it late.
  const forward = (from: Socket, to: Socket, p: Pair, inspect: boolean) => {
    from.on('data', (chunk: Buffer) => {
      const deliver = () => {
        if (p.cutAfterCommit && !inspect) {
          // The database answered the COMMIT (it committed); the server never hears it.
          counts.commitCuts++;
          cut(p);
          return;
        }
        to.write(chunk);
        if (
          inspect &&
          p.cutAfterCommit === false &&
          pendingCommitCut &&
          chunk.includes('COMMIT\0')
        ) {
          pendingCommitCut = false;
          p.cutAfterCommit = true;
        }
      };
      const wait = stalledUntil - Date.now();
      if (wait > 0) {
        from.pause();
        setTimeout(() => {
          deliver();
          from.resume();
        }, wait);
      } else deliver();
    });
  };
  let pendingCommitCut = false;
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port || 5432), target.hostname);
    const p: Pair = { inbound, outbound, cutAfterCommit: false };
    pairs.add(p);
    for (const s of [inbound, outbound]) {
      s.on('error', () => cut(p));
      s.on('close', () => cut(p));
    }
    forward(inbound, outbound, p, true);
    forward(outbound, inbound, p, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let timer: NodeJS.Timeout | undefined;
  const chaos = () => {
    const r = Math.random();
    if (r < 0.4) {
      const open = [...pairs];
      const victim = open[Math.floor(Math.random() * open.length)];
      if (victim) {
        counts.cuts++;
        cut(victim);
      }
    } else if (r < 0.7) {
      counts.stalls++;
      stalledUntil = Date.now() + 50 + Math.random() * 450;
    } else {
      pendingCommitCut = true;
    }
    timer = setTimeout(chaos, 100 + Math.random() * 500);
  };
  const stopChaos = () => {
    clearTimeout(timer);
    timer = undefined;
    stalledUntil = 0;
    pendingCommitCut = false;
  };
  return {
    url(database) {
      const u = new URL(ADMIN_URL);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      u.pathname = `/${database}`;
      return u.toString();
    },
    counts,
    startChaos() {
      timer ??= setTimeout(chaos, 50);
    },
    stopChaos,
    async close() {
      stopChaos();
      for (const p of pairs) cut(p);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
