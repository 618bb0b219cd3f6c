// Numbers for the race table: nearest-rank percentiles and the table itself.

import type { ClientReport } from './client-loop.js';

/** Nearest-rank percentile of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface RaceSummary {
  clients: number;
  updatesPerClient: number;
  precondition: boolean;
  mode: 'threads' | 'processes';
  urls: string[];
  committed: number;
  failed: number;
  conflicts: number;
  retriesMean: number;
  retriesMax: number;
  perSecond: number;
  p50: number;
  p99: number;
  elapsedMs: number;
  expected: number;
  final: number;
  lost: number;
  /** A few distinct error messages of the increments that failed. */
  errors: string[];
}

export function summarize(
  reports: readonly ClientReport[],
  base: Pick<RaceSummary, 'clients' | 'updatesPerClient' | 'precondition' | 'mode' | 'urls'>,
  elapsedMs: number,
  final: number,
): RaceSummary {
  const retries = reports.flatMap((r) => r.retries);
  const latencies = reports.flatMap((r) => r.latencies);
  const committed = reports.reduce((n, r) => n + r.committed, 0);
  // Every committed increment should be in the counter; the counter started at 0.
  const expected = committed;
  return {
    ...base,
    committed,
    failed: reports.reduce((n, r) => n + r.failed, 0),
    conflicts: reports.reduce((n, r) => n + r.conflicts, 0),
    retriesMean: retries.length ? retries.reduce((a, b) => a + b, 0) / retries.length : 0,
    retriesMax: retries.length ? Math.max(...retries) : 0,
    perSecond: elapsedMs > 0 ? committed / (elapsedMs / 1000) : 0,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    elapsedMs,
    expected,
    final,
    lost: expected - final,
    errors: [...new Set(reports.flatMap((r) => r.errors))].slice(0, 5),
  };
}

function ms(n: number): string {
  return Number.isNaN(n) ? '-' : `${n.toFixed(1)} ms`;
}

export function formatTable(s: RaceSummary): string {
  const how = s.precondition ? 'update() with If-Match' : 'GET then PUT, no precondition';
  const rows: [string, string][] = [
    ['committed updates', String(s.committed)],
    ['failed updates', String(s.failed)],
    ['412 Precondition Failed', String(s.conflicts)],
    ['retries per update', `mean ${s.retriesMean.toFixed(2)}, max ${s.retriesMax}`],
    ['committed updates/s', s.perSecond.toFixed(1)],
    ['latency p50 / p99', `${ms(s.p50)} / ${ms(s.p99)}`],
    ['expected counter', String(s.expected)],
    ['final counter', String(s.final)],
    ['lost updates', String(s.lost)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const title =
    `ifmatch race: ${s.clients} clients x ${s.updatesPerClient} updates, ${how}, ` +
    `${s.mode === 'threads' ? 'worker threads' : 'child processes'}, ` +
    `${s.urls.length} URL${s.urls.length === 1 ? '' : 's'}, ${(s.elapsedMs / 1000).toFixed(2)} s`;
  const line = '-'.repeat(Math.max(title.length, width + 20));
  return [title, line, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), line].join('\n');
}
