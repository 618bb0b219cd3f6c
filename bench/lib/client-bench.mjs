// The client goal: a GET answered by a 304 from @ifmatch/client's cache costs
// no JSON parse. JSON.parse is counted while the client revalidates the 1 MB
// document; for scale, the same client's 200 path (cache: 'reload') is timed too.
import { loadClient } from './client.mjs';

async function timed(n, fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

export async function runClientBench(base, n) {
  const { IfMatchClient } = await loadClient();
  const url = `${base}/api/bench/doc-1m`;
  const client = new IfMatchClient({ cacheBytes: 64 * 2 ** 20 });
  const first = await client.get(url);
  if (first.status !== 200) throw new Error(`first GET: ${first.status}`);

  const realParse = JSON.parse;
  let parses = 0;
  let notModified = 0;
  JSON.parse = function countingParse(...a) {
    parses++;
    return realParse.apply(this, a);
  };
  let msPer304;
  try {
    msPer304 = await timed(n, async () => {
      const r = await client.get(url);
      if (r.status === 304 && r.fromCache) notModified++;
    });
  } finally {
    JSON.parse = realParse;
  }
  const reloads = Math.max(10, Math.round(n / 20));
  const msPer200 = await timed(reloads, () => client.get(url, { cache: 'reload' }));
  return { document: first.bytes, requests: n, notModified, parses, msPer304, msPer200, reloads };
}
