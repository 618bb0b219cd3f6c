import type { FastifyBaseLogger } from 'fastify';

// The request log: one line per answered request, with its request id, the
// same from the Fastify hook and the fast lane. One small flat object, not
// Fastify's two lines with the whole request serialized: at `info` (the
// default) the log is on for every request, so its cost is the 304's cost.

export interface LoggedRequest {
  reqId: string;
  method: string;
  url: string;
  statusCode: number;
  /** Milliseconds from arrival to the answer. */
  responseTime: number;
}

export function logRequest(log: FastifyBaseLogger, r: LoggedRequest): void {
  log.info(
    {
      reqId: r.reqId,
      req: { method: r.method, url: r.url },
      res: { statusCode: r.statusCode },
      responseTime: r.responseTime,
    },
    'request completed',
  );
}

/** pino's check; a logger without it (a custom one) is asked through its level name. */
export function enabled(log: FastifyBaseLogger, level: 'info' | 'debug'): boolean {
  const pino = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  if (typeof pino.isLevelEnabled === 'function') return pino.isLevelEnabled(level);
  return (level === 'info' ? ['info', 'debug', 'trace'] : ['debug', 'trace']).includes(log.level);
}
