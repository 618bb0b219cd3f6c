// The metrics are tallied per request and turned into Prometheus text when
// scraped; the text must be what prom-client's own metrics would have given.
import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/http/metrics.js';

const DOC = '/api/:collection/:id';

function line(text: string, pattern: string): number | undefined {
  const escaped = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('Metrics', () => {
  it('counts by route, method and status, derives 304/412 counters and bytes saved', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.record(DOC, 'GET', 304, 0.0002, 1000);
    m.record(DOC, 'GET', 304, 0.0004, 1000);
    m.record(DOC, 'GET', 200, 0.003);
    m.record(DOC, 'PUT', 412, 0.02);
    m.record('unmatched', 'GET', 404, 0.001);
    const text = await m.registry.metrics();
    expect(
      line(text, `ifmatch_http_requests_total{route="${DOC}",method="GET",status="304"}`),
    ).toBe(2);
    expect(
      line(text, `ifmatch_http_requests_total{route="${DOC}",method="GET",status="200"}`),
    ).toBe(1);
    expect(
      line(text, `ifmatch_http_requests_total{route="unmatched",method="GET",status="404"}`),
    ).toBe(1);
    expect(line(text, `ifmatch_not_modified_total{route="${DOC}"}`)).toBe(2);
    expect(line(text, `ifmatch_precondition_failed_total{route="${DOC}",method="PUT"}`)).toBe(1);
    expect(line(text, 'ifmatch_not_modified_bytes_saved_total')).toBe(2000);
  });

  it('exposes a cumulative duration histogram with le, _sum and _count', async () => {
    const m = new Metrics({ defaultMetrics: false });
    for (const seconds of [0.0004, 0.0005, 0.0006, 0.3, 9]) m.record(DOC, 'GET', 200, seconds);
    const text = await m.registry.metrics();
    expect(text).toContain('# TYPE ifmatch_http_request_duration_seconds histogram');
    const bucket = (le: string) =>
      line(
        text,
        `ifmatch_http_request_duration_seconds_bucket{le="${le}",route="${DOC}",method="GET"}`,
      );
    // le is inclusive, as in prom-client: 0.0005 falls in the 0.0005 bucket.
    expect([
      bucket('0.0005'),
      bucket('0.001'),
      bucket('0.25'),
      bucket('0.5'),
      bucket('2.5'),
    ]).toEqual([2, 3, 3, 4, 4]);
    expect(bucket('+Inf')).toBe(5);
    expect(
      line(text, `ifmatch_http_request_duration_seconds_count{route="${DOC}",method="GET"}`),
    ).toBe(5);
    expect(
      line(text, `ifmatch_http_request_duration_seconds_sum{route="${DOC}",method="GET"}`),
    ).toBeCloseTo(9.3015, 6);
  });

  it('scrapes twice without counting twice', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.record(DOC, 'GET', 304, 0.001, 10);
    await m.registry.metrics();
    const text = await m.registry.metrics();
    expect(line(text, `ifmatch_not_modified_total{route="${DOC}"}`)).toBe(1);
    expect(line(text, 'ifmatch_not_modified_bytes_saved_total')).toBe(10);
  });
});
