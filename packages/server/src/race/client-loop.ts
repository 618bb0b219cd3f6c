// One racing client: `updates` increments of the counter, one after another,
// either through update() (If-Match, retry on 412) or as a plain GET then PUT
// without a precondition (the lost-update demonstration). Shared by the worker
// thread and the child process entry.

import { IfMatchClient, MaxAttemptsError } from '@ifmatch/client';

export interface ClientConfig {
  index: number;
  baseUrl: string;
  doc: string;
  updates: number;
  precondition: boolean;
  maxAttempts: number;
  backoff: { base: number; cap: number };
}

export interface ClientReport {
  index: number;
  committed: number;
  failed: number;
  /** 412s met, over all updates. */
  conflicts: number;
  /** Per committed update: PUTs beyond the first. */
  retries: number[];
  /** Per committed update: wall time from the first GET to the committed PUT, ms. */
  latencies: number[];
  errors: string[];
}

export interface Progress {
  committed: number;
  failed: number;
  conflicts: number;
}

interface Counter {
  counter: number;
  [k: string]: unknown;
}

function increment(doc: unknown): Counter {
  if (typeof doc !== 'object' || doc === null || typeof (doc as Counter).counter !== 'number') {
    throw new TypeError('the race document has no numeric "counter" member');
  }
  const current = doc as Counter;
  return { ...current, counter: current.counter + 1 };
}

export async function runClient(
  config: ClientConfig,
  onProgress: (p: Progress) => void,
): Promise<ClientReport> {
  const client = new IfMatchClient({
    baseUrl: config.baseUrl,
    maxAttempts: config.maxAttempts,
    backoff: config.backoff,
  });
  const report: ClientReport = {
    index: config.index,
    committed: 0,
    failed: 0,
    conflicts: 0,
    retries: [],
    latencies: [],
    errors: [],
  };
  for (let i = 0; i < config.updates; i++) {
    const start = performance.now();
    try {
      if (config.precondition) {
        const result = await client.update(config.doc, increment);
        report.conflicts += result.conflicts;
        report.retries.push(result.attempts - 1);
      } else {
        const current = await client.get(config.doc, { cache: 'no-store' });
        await client.put(config.doc, increment(current.value), { ifMatch: false });
        report.retries.push(0);
      }
      report.committed++;
      report.latencies.push(performance.now() - start);
    } catch (error) {
      report.failed++;
      if (error instanceof MaxAttemptsError) report.conflicts += error.conflicts;
      if (report.errors.length < 5) report.errors.push(String(error));
    }
    onProgress({ committed: report.committed, failed: report.failed, conflicts: report.conflicts });
  }
  return report;
}
