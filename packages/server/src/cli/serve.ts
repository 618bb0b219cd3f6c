import { parseArgs } from 'node:util';
import { buildApp, DEFAULT_BODY_LIMIT, TIMEOUTS } from '../http/app.js';
import { loadAuthConfig } from '../http/auth.js';
import { parseCorsOrigins } from '../http/cors.js';
import { LIVE_DEFAULTS } from '../live/waiters.js';
import { describeDb, openStore } from '../store/open.js';
import type { DocumentStore } from '../store/types.js';
import { logDestination } from './log-destination.js';

export const SERVE_USAGE = `Usage: ifmatch serve [options]

Serves versioned JSON documents at /api/{collection}/{id} with ETags, 304 Not
Modified and 412 Precondition Failed (see /openapi.json), plus /healthz,
/metrics and the web app at /.

Options:
  --port N            TCP port (env PORT; default 8080; 0 = any free port)
  --host H            interface to listen on (env HOST; default 127.0.0.1;
                      0.0.0.0 for all interfaces)
  --db PATH|:memory:|postgres://USER@HOST/DB
                      storage (env DATABASE_URL; default ./data/ifmatch.db,
                      created if missing). A file path or :memory: is SQLite;
                      a postgres:// URL is PostgreSQL (several server
                      instances may share one database).
  --strict            answer 428 to PUT, PATCH and DELETE that carry neither
                      If-Match nor If-None-Match
  --body-limit BYTES  largest request body (default ${DEFAULT_BODY_LIMIT} = 1 MiB;
                      suffixes k and m for KiB and MiB); larger is 413
  --cors ORIGINS      allow browsers on these origins (comma-separated, or *)
                      to call the API and read ETag, Location, ...
  --auth FILE         require bearer tokens: FILE maps tokens to read/write
                      scopes per collection (docs/RELIABILITY.md); off by default
  --max-wait SECONDS  the longest a request may wait with Prefer: wait=N (a
                      document's long-poll, the change feed); larger N are
                      capped (default ${LIVE_DEFAULTS.maxWaitSeconds}; 0 = never wait)
  --max-waiters N     waiting requests + event streams at once (default
                      ${LIVE_DEFAULTS.maxWaiters}); beyond it a request is answered at once
  --change-retention DURATION
                      how long the change feed keeps changes and deletions
                      (default 7d; units ms, s, m, h, d); an older cursor is 410
  --headers-timeout MS   all request headers within MS (default ${TIMEOUTS.headersTimeout})
  --request-timeout MS   the whole request within MS (default ${TIMEOUTS.requestTimeout})
  --keep-alive-timeout MS  close idle keep-alive connections after MS
                      (default ${TIMEOUTS.keepAliveTimeout})
  --log-level LEVEL   fatal, error, warn, info (default), debug, trace, silent;
                      JSON log lines on stderr, each with the request id
  -h, --help          this text

SIGINT/SIGTERM: stop accepting, answer waiting requests at once (304 or an
empty feed page), end event streams, finish in-flight requests, close the
database, exit 0.
`;

class UsageError extends Error {}

function parseBodyLimit(text: string): number {
  const m = /^(\d+)\s*(k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--body-limit: ${JSON.stringify(text)} is not a byte count`);
  const unit = (m[2] ?? '').toLowerCase();
  const n = Number(m[1]) * (unit.startsWith('m') ? 1024 * 1024 : unit.startsWith('k') ? 1024 : 1);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError('--body-limit must be at least 1 byte');
  return n;
}

function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`--port: ${JSON.stringify(text)} is not a port number (0-65535)`);
  }
  return Number(text);
}

function parseMs(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text.trim()) || Number(text) < 1) {
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a number of milliseconds (>= 1)`);
  }
  return Number(text);
}

/** A whole number >= 0 (0 turns the feature off: --max-wait 0 never holds a request). */
function parseCount(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text.trim())) {
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a whole number (>= 0)`);
  }
  return Number(text);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `7d`, `12h`, `90m`, `30s`, `500ms` (a bare number is seconds) -> milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d{1,12})\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  const ms = m ? Number(m[1]) * DURATION_UNITS[(m[2] ?? 's').toLowerCase()]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a duration like 7d, 12h or 30s`);
  }
  return ms;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Runs the server until a signal; resolves with the exit code. */
export async function runServe(argv: string[]): Promise<number> {
  let store: DocumentStore | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        db: { type: 'string' },
        strict: { type: 'boolean', default: false },
        'body-limit': { type: 'string' },
        cors: { type: 'string' },
        'log-level': { type: 'string' },
        auth: { type: 'string' },
        'headers-timeout': { type: 'string' },
        'request-timeout': { type: 'string' },
        'keep-alive-timeout': { type: 'string' },
        'max-wait': { type: 'string' },
        'max-waiters': { type: 'string' },
        'change-retention': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(SERVE_USAGE);
      return 0;
    }
    const port = parsePort(values.port ?? process.env.PORT ?? '8080');
    const host = values.host ?? process.env.HOST ?? '127.0.0.1';
    const db = values.db ?? process.env.DATABASE_URL ?? './data/ifmatch.db';
    const bodyLimit =
      values['body-limit'] === undefined
        ? DEFAULT_BODY_LIMIT
        : parseBodyLimit(values['body-limit']);
    let cors: string[] | undefined;
    try {
      cors = values.cors === undefined ? undefined : parseCorsOrigins(values.cors);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const level = values['log-level'] ?? 'info';
    if (!LEVELS.has(level))
      throw new UsageError(`--log-level: unknown level ${JSON.stringify(level)}`);

    const timeouts = {
      headersTimeout: parseMs(
        '--headers-timeout',
        values['headers-timeout'],
        TIMEOUTS.headersTimeout,
      ),
      requestTimeout: parseMs(
        '--request-timeout',
        values['request-timeout'],
        TIMEOUTS.requestTimeout,
      ),
      keepAliveTimeout: parseMs(
        '--keep-alive-timeout',
        values['keep-alive-timeout'],
        TIMEOUTS.keepAliveTimeout,
      ),
    };
    if (timeouts.headersTimeout > timeouts.requestTimeout) {
      throw new UsageError('--headers-timeout must not exceed --request-timeout');
    }
    const live = {
      maxWaitSeconds: parseCount('--max-wait', values['max-wait'], LIVE_DEFAULTS.maxWaitSeconds),
      maxWaiters: parseCount('--max-waiters', values['max-waiters'], LIVE_DEFAULTS.maxWaiters),
    };
    const changeRetentionMs =
      values['change-retention'] === undefined
        ? undefined
        : parseDuration('--change-retention', values['change-retention']);
    const auth = values.auth === undefined ? undefined : await loadAuthConfig(values.auth);

    store = await openStore(db, changeRetentionMs === undefined ? {} : { changeRetentionMs });
    const app = await buildApp({
      store,
      strict: values.strict,
      bodyLimit,
      // Bearer tokens never reach a log line, whatever a serializer includes.
      logger: {
        level,
        // Buffered and asynchronous: a synchronous write per line costs a third of a 304.
        stream: logDestination(),
        redact: ['req.headers.authorization', 'headers.authorization', 'authorization'],
      },
      timeouts,
      live,
      ...(auth ? { auth } : {}),
      ...(cors ? { cors } : {}),
    });
    await app.listen({ port, host });
    const address = app.server.address();
    const realPort = typeof address === 'object' && address ? address.port : port;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    process.stdout.write(
      `ifmatch listening on http://${shownHost}:${realPort} (${describeDb(db)}${values.strict ? ', strict' : ''}${auth ? ', auth' : ''})\n`,
    );

    const opened = store;
    return await new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals | 'parent exited') => {
        if (stopping) {
          // A second signal: the user wants out now.
          process.stderr.write(`ifmatch: ${signal} again, exiting without waiting\n`);
          process.exit(1);
        }
        stopping = true;
        app.log.info({ signal }, 'shutting down: finishing in-flight requests');
        app
          .close()
          .then(() => opened.close())
          .then(
            () => resolve(0),
            (error: unknown) => {
              process.stderr.write(`ifmatch: shutdown failed: ${(error as Error).message}\n`);
              resolve(1);
            },
          );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Started by npm (`npm start`, `npx ifmatch serve`, a script "ifmatch serve"):
      // npm runs us through `sh -c` and forwards its SIGTERM to that shell, which
      // dies without passing it on. The parent going away is the cue to stop too.
      if (process.env.npm_command !== undefined) {
        const parent = process.ppid;
        const watch = setInterval(() => {
          if (process.ppid !== parent) {
            clearInterval(watch);
            stop('parent exited');
          }
        }, 250);
        watch.unref();
      }
    });
  } catch (error) {
    await store?.close().catch(() => {});
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`ifmatch: cannot listen: ${message.split('\n')[0]}\n`);
      return 1;
    }
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(
        `ifmatch serve: ${message.split('\n')[0]}\nRun "ifmatch serve --help".\n`,
      );
      return 2;
    }
    process.stderr.write(`ifmatch: ${message.split('\n')[0]}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
