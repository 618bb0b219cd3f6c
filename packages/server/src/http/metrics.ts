import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What one route and method answered: counts by status and a duration histogram. */
interface Tally {
  route: string;
  method: string;
  statuses: Map<number, number>;
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * The request duration histogram, exposed from the tallies when scraped.
 * prom-client's registry reads a metric through `get()` (and `reset()`), so
 * this object stands in for a prom-client Histogram with the same output.
 */
class DurationHistogram {
  readonly name = 'ifmatch_http_request_duration_seconds';
  readonly help = 'Time from request to response, by route and method';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['route', 'method'];

  constructor(private readonly tallies: () => Iterable<Tally>) {}

  async get() {
    const values: Array<{
      labels: Record<string, string | number>;
      value: number;
      metricName: string;
    }> = [];
    for (const t of this.tallies()) {
      let cumulative = 0;
      for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
        cumulative += t.buckets[i]!;
        const le = i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i]! : '+Inf';
        values.push({
          labels: { le, route: t.route, method: t.method },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      const labels = { route: t.route, method: t.method };
      values.push({ labels, value: t.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: t.count, metricName: `${this.name}_count` });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  reset(): void {}
}

/**
 * Prometheus metrics, one registry per app (tests build many apps in one
 * process; the global registry would refuse duplicate names). Requests are
 * tallied in plain maps, two lookups and a few additions each; the prom-client
 * metrics are computed from the tallies when /metrics is scraped. Label-hashed
 * prom-client updates on every request cost a sixth of the 304 path's
 * throughput (docs/PERFORMANCE.md).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #byRoute = new Map<string, Map<string, Tally>>();
  #bytesNotSent = 0;

  constructor(
    options: {
      defaultMetrics?: boolean;
      /** The store's statements by operation (DocumentStore.queryCounts). */
      storeQueries?: () => ReadonlyMap<string, number>;
      /** Held requests (Prefer: wait) and open event streams right now (LiveHub.size). */
      liveWaiters?: () => number;
    } = {},
  ) {
    const tallies = () => this.#tallies();
    const registers = [this.registry];
    new Counter({
      name: 'ifmatch_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tallies()) {
          for (const [status, n] of t.statuses) {
            this.inc({ route: t.route, method: t.method, status: String(status) }, n);
          }
        }
      },
    });
    new Counter({
      name: 'ifmatch_not_modified_total',
      help: '304 Not Modified responses',
      labelNames: ['route'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tallies()) {
          const n = t.statuses.get(304);
          if (n !== undefined) this.inc({ route: t.route }, n);
        }
      },
    });
    new Counter({
      name: 'ifmatch_precondition_failed_total',
      help: '412 Precondition Failed responses',
      labelNames: ['route', 'method'] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tallies()) {
          const n = t.statuses.get(412);
          if (n !== undefined) this.inc({ route: t.route, method: t.method }, n);
        }
      },
    });
    const bytes = () => this.#bytesNotSent;
    new Counter({
      name: 'ifmatch_not_modified_bytes_saved_total',
      help: 'Body bytes a 200 would have sent that 304 responses did not send (where the size was known)',
      registers,
      collect() {
        this.reset();
        this.inc(bytes());
      },
    });
    const storeQueries = options.storeQueries;
    if (storeQueries) {
      new Counter({
        name: 'ifmatch_store_queries_total',
        help: 'Statements sent to the database, by store operation (round trips)',
        labelNames: ['op'] as const,
        registers,
        collect() {
          this.reset();
          for (const [op, n] of storeQueries()) this.inc({ op }, n);
        },
      });
    }
    const liveWaiters = options.liveWaiters;
    if (liveWaiters) {
      new Gauge({
        name: 'ifmatch_live_waiters',
        help: 'Requests held by Prefer: wait and open event streams (capped by --max-waiters)',
        registers,
        collect() {
          this.set(liveWaiters());
        },
      });
    }
    // A stand-in with prom-client's metric shape (see DurationHistogram).
    this.registry.registerMetric(new DurationHistogram(tallies) as unknown as Metric);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  *#tallies(): Iterable<Tally> {
    for (const methods of this.#byRoute.values()) yield* methods.values();
  }

  /**
   * One answered request. `notSent`: for a 304, the size of the body a 200
   * would have carried, when known. Runs on every request, the fast lane's
   * included: no allocation once a route and method have been seen.
   */
  record(route: string, method: string, status: number, seconds: number, notSent?: number): void {
    let methods = this.#byRoute.get(route);
    if (methods === undefined) {
      methods = new Map();
      this.#byRoute.set(route, methods);
    }
    let t = methods.get(method);
    if (t === undefined) {
      t = {
        route,
        method,
        statuses: new Map(),
        buckets: new Array(DURATION_BUCKETS.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      methods.set(method, t);
    }
    t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    t.buckets[i]!++;
    t.sum += seconds;
    t.count++;
    if (status === 304 && notSent !== undefined) this.#bytesNotSent += notSent;
  }

  install(app: FastifyInstance): void {
    if (!app.hasRequestDecorator('representationSize')) {
      app.decorateRequest('representationSize', undefined);
    }
    // Callback style, not async: an async hook costs a promise and a microtask per request.
    app.addHook('onResponse', (request, reply, done) => {
      this.record(
        request.routeOptions.url ?? 'unmatched',
        request.method,
        reply.statusCode,
        reply.elapsedTime / 1000,
        request.representationSize,
      );
      done();
    });
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Size of the body a 200 would carry (set by routes that know it; for bytes-saved on 304). */
    representationSize: number | undefined;
  }
}
