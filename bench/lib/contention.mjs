// Contended writes: N writers run @ifmatch/client's update() (If-Match, 412
// with the representation, re-apply, backoff) on ONE document for a fixed
// time. Each update increments a counter and the writer's own tally, so the
// final document says how many updates landed: lost = acknowledged - landed.
import { randomBytes } from 'node:crypto';
import { loadClient } from './client.mjs';

/** `headers`: the target's own request fields (e.g. the --auth target's bearer token). */
export async function runContention(base, writers, seconds, backoff, headers = {}) {
  const { IfMatchClient } = await loadClient();
  const url = `${base}/api/bench/contended-${writers}-${randomBytes(4).toString('hex')}`;
  const setup = new IfMatchClient({ headers });
  const initial = { counter: 0, tally: {} };
  for (let w = 0; w < writers; w++) initial.tally[`w${w}`] = 0;
  await setup.put(url, initial, { ifNoneMatch: '*' });

  const deadline = Date.now() + seconds * 1000;
  const stats = Array.from({ length: writers }, () => ({
    committed: 0,
    conflicts: 0,
    gaveUp: 0,
    attempts: 0,
  }));
  const started = process.hrtime.bigint();
  await Promise.all(
    stats.map(async (s, w) => {
      // One client per writer: each has its own cache, as separate users would.
      const client = new IfMatchClient(
        backoff ? { maxAttempts: 1000, backoff, headers } : { maxAttempts: 1000, headers },
      );
      const key = `w${w}`;
      while (Date.now() < deadline) {
        try {
          const r = await client.update(url, (doc) => ({
            ...doc,
            counter: doc.counter + 1,
            tally: { ...doc.tally, [key]: doc.tally[key] + 1 },
          }));
          s.committed++;
          s.conflicts += r.conflicts;
          s.attempts += r.attempts;
        } catch (e) {
          if (e?.name !== 'MaxAttemptsError') throw e;
          s.gaveUp++;
        }
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const final = (await new IfMatchClient({ headers }).get(url)).value;
  const committed = stats.reduce((a, s) => a + s.committed, 0);
  const conflicts = stats.reduce((a, s) => a + s.conflicts, 0);
  const gaveUp = stats.reduce((a, s) => a + s.gaveUp, 0);
  // A writer's acknowledged updates must all be in its tally, and the counter must hold them all.
  let lost = Math.max(0, committed - final.counter);
  stats.forEach((s, w) => {
    lost = Math.max(lost, s.committed - final.tally[`w${w}`]);
  });
  return {
    seconds: elapsed,
    committed,
    commitsPerSecond: committed / elapsed,
    conflicts,
    gaveUp,
    finalCounter: final.counter,
    lost,
  };
}
