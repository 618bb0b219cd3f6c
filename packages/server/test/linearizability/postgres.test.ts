// Linearizability of documents served by several `ifmatch serve` processes on
// one PostgreSQL database, under faults. Each run records 8 sequential
// clients for SECONDS (3 in `npm test`) and checks the whole history.

import { afterEach, expect, it } from 'vitest';
import { createTestDatabase, describePostgres, type TestDatabase } from '../postgres/pg.js';
import { type Instance, startInstance } from '../postgres/servers.js';
import { type FaultyRelay, faultyRelayToPostgres } from './faulty-relay.js';
import { runWorkload } from './recorder.js';
import {
  CLIENTS,
  judge,
  killRepeatedly,
  RUN_TIMEOUT_MS,
  type RunSummary,
  SECONDS,
  type Slot,
} from './runs.js';

const keys = ['d0', 'd1', 'd2'].map((id) => `/api/lin/${id}`);

function expectLinearizable(summary: RunSummary): void {
  expect(summary.unexpected, 'responses outside the contract').toEqual([]);
  expect(summary.verdict).toMatch(/^linearizable: /);
  // The run did what it claims: known outcomes to check (a loaded machine gives few hundred).
  expect(summary.operations - summary.unknown).toBeGreaterThan(40);
}

await describePostgres('linearizability on PostgreSQL, two instances and faults', () => {
  let db: TestDatabase | undefined;
  let relay: FaultyRelay | undefined;
  const running: Slot[] = [];
  const start = async (url: string): Promise<Instance> => {
    const instance = await startInstance(url);
    running.push(instance);
    return instance;
  };

  afterEach(async () => {
    relay?.stopChaos();
    await Promise.all(running.splice(0).map((i) => i.stop()));
    await relay?.close();
    relay = undefined;
    await db?.drop();
    db = undefined;
  });

  it(
    'holds with a relay to PostgreSQL that cuts, stalls and loses COMMIT answers',
    async () => {
      db = await createTestDatabase('ifmatch_lin');
      relay = await faultyRelayToPostgres();
      const a = await start(db.url);
      const b = await start(relay.url(db.name));
      relay.startChaos();
      const urls = () => [a.url, b.url];
      const recorded = await runWorkload({
        clients: CLIENTS,
        seconds: SECONDS,
        keys,
        readers: urls,
        writers: urls,
      });
      relay.stopChaos();
      const summary = judge('postgres-relay-faults', recorded, SECONDS, { ...relay.counts });
      expectLinearizable(summary);
      // Faults were injected while the clients ran.
      const { cuts, stalls, commitCuts } = relay.counts;
      expect(cuts + stalls + commitCuts).toBeGreaterThan(0);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'holds with one instance killed (SIGKILL) and restarted again and again',
    async () => {
      db = await createTestDatabase('ifmatch_lin');
      const url = db.url;
      const a = await start(url);
      const victim: Slot = await start(url);
      const slot: Slot = { url: victim.url, kill: victim.kill, stop: victim.stop };
      running.splice(running.indexOf(victim), 1, slot);
      const urls = () => [a.url, slot.url];
      const workload = runWorkload({
        clients: CLIENTS,
        seconds: SECONDS,
        keys,
        readers: urls,
        writers: urls,
      });
      const kills = await killRepeatedly(slot, () => startInstance(url), workload);
      const summary = judge('postgres-sigkill', await workload, SECONDS, {
        'SIGKILL+restart': kills,
      });
      expectLinearizable(summary);
      expect(kills).toBeGreaterThan(0);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'holds with two instances serving every read while a third takes every write',
    async () => {
      db = await createTestDatabase('ifmatch_lin');
      const [a, b, c] = await Promise.all([start(db.url), start(db.url), start(db.url)]);
      const recorded = await runWorkload({
        clients: CLIENTS,
        seconds: SECONDS,
        keys,
        readers: () => [a!.url, b!.url],
        writers: () => [c!.url],
      });
      const summary = judge('postgres-read-two-write-third', recorded, SECONDS, {});
      expectLinearizable(summary);
      // Reads on one instance really did observe writes made through another.
      expect(
        recorded.history.some(
          (op) =>
            op.request.kind === 'get' && 'status' in op.response && op.response.status === 200,
        ),
      ).toBe(true);
    },
    RUN_TIMEOUT_MS,
  );
});
