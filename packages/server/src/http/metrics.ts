import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics, one registry per app (tests build many apps in one
 * process; the global registry would refuse duplicate names).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'ifmatch_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'ifmatch_http_request_duration_seconds',
    help: 'Time from request to response, by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly notModified = new Counter({
    name: 'ifmatch_not_modified_total',
    help: '304 Not Modified responses',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly preconditionFailed = new Counter({
    name: 'ifmatch_precondition_failed_total',
    help: '412 Precondition Failed responses',
    labelNames: ['route', 'method'] as const,
    registers: [this.registry],
  });
  readonly bytesNotSent = new Counter({
    name: 'ifmatch_not_modified_bytes_saved_total',
    help: 'Body bytes a 200 would have sent that 304 responses did not send (where the size was known)',
    registers: [this.registry],
  });
  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * One answered request. `notSent`: for a 304, the size of the body a 200
   * would have carried, when known. Synchronous and allocation-light: it runs
   * on every request, the fast lane's included.
   */
  record(route: string, method: string, status: number, seconds: number, notSent?: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.duration.observe({ route, method }, seconds);
    if (status === 304) {
      this.notModified.inc({ route });
      if (notSent !== undefined) this.bytesNotSent.inc(notSent);
    } else if (status === 412) {
      this.preconditionFailed.inc({ route, method });
    }
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
