import type { FastifyBaseLogger } from 'fastify';

// The request log: one line per answered request, with its request id, the
// same from the Fastify hook and the fast lane. One small flat object, not
// Fastify's two lines with the whole request serialized: at `info` (the
// default) the log is on for every request, so its cost is the 304's cost.
//
// The line has a fixed shape, so for a pino logger it is formatted here, byte
// for byte as pino's `log.info(object, msg)` writes it (level, time, the
// logger's bindings, reqId, req, res, responseTime, msg), and handed to the
// logger's destination stream. pino's general path (serializers run on fresh
// objects, redaction, a key loop, string checks) cost about as much as the
// rest of a 304 (docs/PERFORMANCE.md, "CPU per request of a 304"). A logger
// configured so that pino would write something else (a mixin, a log or
// message formatter, hooks, a nested key, a prefix, serializers that change
// these fields, a stream that wants the level) and a logger that is not pino
// get `log.info` as before.

export interface LoggedRequest {
  reqId: string;
  method: string;
  url: string;
  statusCode: number;
  /** Milliseconds from arrival to the answer. */
  responseTime: number;
}

const MESSAGE = 'request completed';

export function logRequest(log: FastifyBaseLogger, r: LoggedRequest): void {
  const plan = planOf(log);
  if (plan === null) {
    log.info(
      {
        reqId: r.reqId,
        req: { method: r.method, url: r.url },
        res: { statusCode: r.statusCode },
        responseTime: r.responseTime,
      },
      MESSAGE,
    );
    return;
  }
  const pinoLog = log as unknown as Record<symbol, unknown>;
  const chindings = pinoLog[plan.sym.chindings] as string;
  const reqId = JSON.stringify(r.reqId);
  // A request's child logger (Fastify's request.log) is bound to its id
  // already; pino would write the key twice with one value: once is enough.
  const idField = `,"reqId":${reqId}`;
  const bound = chindings.length > 0 && chindings.includes(idField);
  const time = (pinoLog[plan.sym.time] as (this: unknown) => string).call(log);
  (plan.stream as { write(line: string): unknown }).write(
    `${plan.head}${time}${chindings}${bound ? '' : idField},"req":{"method":${JSON.stringify(r.method)},"url":${JSON.stringify(r.url)}},"res":{"statusCode":${jsonNumber(r.statusCode)}},"responseTime":${jsonNumber(r.responseTime)}${plan.tail}`,
  );
}

/** pino's check; a logger without it (a custom one) is asked through its level name. */
export function enabled(log: FastifyBaseLogger, level: 'info' | 'debug'): boolean {
  const pino = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  if (typeof pino.isLevelEnabled === 'function') return pino.isLevelEnabled(level);
  return (level === 'info' ? ['info', 'debug', 'trace'] : ['debug', 'trace']).includes(log.level);
}

/** A number as pino writes it: non-finite as null. */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** pino's internal slots, found by their symbols' descriptions (pino.symbols of whichever pino made the logger). */
interface Slots {
  lsCache: symbol;
  time: symbol;
  chindings: symbol;
  stream: symbol;
  end: symbol;
  messageKey: symbol;
  errorKey: symbol;
  mixin: symbol | undefined;
  nestedKey: symbol | undefined;
  msgPrefix: symbol | undefined;
  stringifiers: symbol | undefined;
}

const FORMATTERS = Symbol.for('pino.formatters');
const HOOKS = Symbol.for('pino.hooks');
const SERIALIZERS = Symbol.for('pino.serializers');
const NEEDS_METADATA = Symbol.for('pino.metadata');

/** What decides the line's bytes; a child logger with the same values writes like its parent. */
interface Plan {
  sym: Slots;
  stream: unknown;
  /** The values the line depends on, compared by identity for child loggers. */
  shape: unknown[];
  /** `{"level":30` */
  head: string;
  /** `,"msg":"request completed"}\n` */
  tail: string;
}

const plans = new WeakMap<object, Plan | null>();

function planOf(log: object): Plan | null {
  const known = plans.get(log);
  if (known !== undefined) return known;
  // Fastify makes a child logger per request: reuse its parent's plan when
  // the child changes nothing the line depends on (only its bindings).
  const parent = Object.getPrototypeOf(log) as object | null;
  const inherited = parent === null ? undefined : plans.get(parent);
  if (inherited && sameShape(log, inherited)) return inherited;
  const plan = makePlan(log);
  plans.set(log, plan);
  return plan;
}

function shapeOf(log: Record<symbol, unknown>, sym: Slots): unknown[] {
  const formatters = log[FORMATTERS] as { log?: unknown } | undefined;
  return [
    log[sym.stream],
    log[sym.lsCache],
    log[sym.time],
    log[sym.end],
    log[sym.messageKey],
    log[sym.errorKey],
    log[SERIALIZERS],
    log[HOOKS],
    formatters?.log,
    sym.mixin && log[sym.mixin],
    sym.nestedKey && log[sym.nestedKey],
    sym.msgPrefix && log[sym.msgPrefix],
    sym.stringifiers && log[sym.stringifiers],
    (log as { levels?: { values?: Record<string, number> } }).levels?.values?.info,
  ];
}

function sameShape(log: object, plan: Plan): boolean {
  const now = shapeOf(log as Record<symbol, unknown>, plan.sym);
  for (let i = 0; i < now.length; i++) if (now[i] !== plan.shape[i]) return false;
  return true;
}

function slotsOf(log: object): Slots | undefined {
  const byName = new Map<string, symbol>();
  for (let o: object | null = log; o !== null; o = Object.getPrototypeOf(o)) {
    for (const s of Object.getOwnPropertySymbols(o)) {
      const name = s.description;
      if (name?.startsWith('pino.') && !byName.has(name)) byName.set(name, s);
    }
  }
  const need = (name: string) => byName.get(`pino.${name}`);
  const lsCache = need('lsCache');
  const time = need('time');
  const chindings = need('chindings');
  const stream = need('stream');
  const end = need('end');
  const messageKey = need('messageKey');
  const errorKey = need('errorKey');
  if (!lsCache || !time || !chindings || !stream || !end || !messageKey || !errorKey) {
    return undefined;
  }
  return {
    lsCache,
    time,
    chindings,
    stream,
    end,
    messageKey,
    errorKey,
    mixin: need('mixin'),
    nestedKey: need('nestedKey'),
    msgPrefix: need('msgPrefix'),
    stringifiers: need('stringifiers'),
  };
}

/** The fields of the line whose keys a serializer or stringifier could change. */
const SAMPLE = {
  reqId: 'id',
  req: { method: 'GET', url: '/p' },
  res: { statusCode: 200 },
  responseTime: 1.5,
};

/**
 * How to write the line for this logger, or null when pino would write
 * something else than the fixed shape (then log.info writes it).
 */
function makePlan(log: object): Plan | null {
  const sym = slotsOf(log);
  if (sym === undefined) return null;
  const l = log as Record<symbol, unknown>;
  const stream = l[sym.stream] as { write?: unknown } | undefined;
  if (typeof stream?.write !== 'function') return null;
  // A multistream or transport wants the level and object of each line.
  if ((stream as Record<symbol, unknown>)[NEEDS_METADATA] === true) return null;
  if (sym.mixin && l[sym.mixin]) return null;
  if (sym.nestedKey && l[sym.nestedKey]) return null;
  if (sym.msgPrefix && l[sym.msgPrefix]) return null;
  const hooks = l[HOOKS] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  if (hooks?.logMethod || hooks?.streamWrite) return null;
  const formatters = l[FORMATTERS] as { log?: unknown } | undefined;
  if (formatters?.log) return null;
  const messageKey = l[sym.messageKey];
  const errorKey = l[sym.errorKey];
  if (typeof messageKey !== 'string') return null;
  const keys = [...Object.keys(SAMPLE), messageKey];
  if (typeof errorKey === 'string' && keys.includes(errorKey)) return null;
  // Each field must come out as plain JSON: Fastify's req/res serializers
  // pass {method, url} and {statusCode} through unchanged; redaction of
  // req.headers.* finds nothing in them.
  const serializers = (l[SERIALIZERS] ?? {}) as Record<string, (v: unknown) => unknown>;
  const stringifiers = (sym.stringifiers ? (l[sym.stringifiers] ?? {}) : {}) as Record<
    string | symbol,
    ((v: unknown) => unknown) | undefined
  >;
  if (Object.getOwnPropertySymbols(stringifiers).some((s) => s.description?.includes('wildcard'))) {
    return null;
  }
  try {
    for (const key of Object.keys(SAMPLE) as Array<keyof typeof SAMPLE>) {
      const sample = SAMPLE[key];
      let value: unknown = sample;
      if (typeof serializers[key] === 'function') value = serializers[key](structuredClone(sample));
      const stringifier = stringifiers[key];
      const text = typeof stringifier === 'function' ? stringifier(value) : JSON.stringify(value);
      if (text !== JSON.stringify(sample)) return null;
    }
  } catch {
    return null;
  }
  if (typeof serializers[messageKey] === 'function' || stringifiers[messageKey]) return null;
  const info = (log as { levels?: { values?: Record<string, number> } }).levels?.values?.info;
  const lsCache = l[sym.lsCache] as Record<number, string> | undefined;
  const head = info === undefined ? undefined : lsCache?.[info];
  const end = l[sym.end];
  if (typeof head !== 'string' || typeof end !== 'string' || typeof l[sym.time] !== 'function') {
    return null;
  }
  return {
    sym,
    stream,
    shape: shapeOf(l, sym),
    head,
    tail: `,${JSON.stringify(messageKey)}:${JSON.stringify(MESSAGE)}${end}`,
  };
}
