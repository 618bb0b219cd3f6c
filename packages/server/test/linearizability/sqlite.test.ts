// Linearizability of documents served by two `ifmatch serve` processes
// sharing one SQLite file, one of them killed (SIGKILL) and restarted.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServer } from '../helpers/process.js';
import { runWorkload } from './recorder.js';
import { CLIENTS, judge, killRepeatedly, RUN_TIMEOUT_MS, SECONDS, type Slot } from './runs.js';

const keys = ['d0', 'd1', 'd2'].map((id) => `/api/lin/${id}`);

describe('linearizability on SQLite, two processes on one file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifmatch-lin-'));
  const file = join(dir, 'shared.db');
  const running: Slot[] = [];
  const start = async (): Promise<ServerProcess> =>
    startServer(['--db', file, '--log-level', 'warn']);

  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'holds with both processes writing and one killed (SIGKILL) and restarted',
    async () => {
      const a = await start();
      running.push(a);
      const b = await start();
      const slot: Slot = { url: b.url, kill: b.kill, stop: b.stop };
      running.push(slot);
      const urls = () => [a.url, slot.url];
      const workload = runWorkload({
        clients: CLIENTS,
        seconds: SECONDS,
        keys,
        readers: urls,
        writers: urls,
      });
      const kills = await killRepeatedly(slot, start, workload);
      const recorded = await workload;
      const summary = judge('sqlite-two-processes-sigkill', recorded, SECONDS, {
        'SIGKILL+restart': kills,
      });
      expect(summary.unexpected, 'responses outside the contract').toEqual([]);
      expect(summary.verdict).toMatch(/^linearizable: /);
      expect(summary.operations - summary.unknown).toBeGreaterThan(40);
      expect(kills).toBeGreaterThan(0);
    },
    RUN_TIMEOUT_MS,
  );
});
