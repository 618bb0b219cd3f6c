// Two `ifmatch serve` processes on one SQLite file: a write through one wakes
// the waiters and streams of the other (the store's cross-process signals).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { liveInstanceSuite } from './instances.js';

describe('live changes across two processes on one SQLite file', () => {
  liveInstanceSuite({
    name: 'sqlite',
    storage: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ifmatch-live-procs-'));
      return {
        db: join(dir, 'shared.db'),
        remove: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  });
});
