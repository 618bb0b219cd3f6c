// The targets: each one a child process on its own port. Framework targets
// serve /doc/{size}; ifmatch serves /api/bench/doc-{size} after the runner
// PUTs the documents into it.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, SIZES, TMP_DIR } from './documents.mjs';
import { get } from './probe.mjs';

export const ROOT = join(BENCH_DIR, '..');
export const IFMATCH_CLI = join(ROOT, 'packages/server/dist/cli/main.js');
/** The bearer token of the --auth target (a benchmark's, not a secret). */
const BENCH_TOKEN = 'bench-token-0123456789abcdef';

/** name, label, which paths it takes part in, how to start it. */
export const TARGETS = [
  {
    name: 'raw',
    label: 'raw node:http (reference)',
    script: 'raw.mjs',
    paths: ['200', '304', 'gzip'],
  },
  {
    name: 'ifmatch-sqlite',
    label: 'ifmatch, SQLite',
    ifmatch: 'sqlite',
    paths: ['200', '304', 'gzip'],
  },
  {
    // The same server with --cors (browsers on other origins send Origin).
    name: 'ifmatch-sqlite-cors',
    label: 'ifmatch, SQLite, --cors *',
    ifmatch: 'sqlite',
    serveArgs: ['--cors', '*'],
    requestHeaders: { Origin: 'https://app.example' },
    paths: ['200', '304'],
  },
  {
    // The same server with --auth (every request carries a bearer token).
    name: 'ifmatch-sqlite-auth',
    label: 'ifmatch, SQLite, --auth',
    ifmatch: 'sqlite',
    auth: true,
    requestHeaders: { Authorization: `Bearer ${BENCH_TOKEN}` },
    paths: ['200', '304'],
  },
  {
    name: 'ifmatch-postgres',
    label: 'ifmatch, PostgreSQL',
    ifmatch: 'postgres',
    paths: ['200', '304', 'gzip'],
  },
  {
    // Two processes on one database, the load's connections split between them (run.mjs).
    name: 'ifmatch-postgres-x2',
    label: 'ifmatch, PostgreSQL, 2 instances',
    ifmatch: 'postgres',
    instances: 2,
    paths: ['304'],
  },
  {
    name: 'fastify',
    label: 'fastify + @fastify/etag',
    script: 'fastify.mjs',
    mode: 'typical',
    paths: ['200', '304'],
  },
  {
    name: 'express',
    label: 'express 5 (res.json)',
    script: 'express.mjs',
    mode: 'typical',
    paths: ['200', '304'],
  },
  {
    name: 'hono',
    label: 'hono + hono/etag',
    script: 'hono.mjs',
    mode: 'typical',
    paths: ['200', '304'],
  },
  {
    name: 'fastify-bytes',
    label: 'fastify + @fastify/etag, stored bytes',
    script: 'fastify.mjs',
    mode: 'bytes',
    paths: ['200', '304'],
  },
  {
    name: 'express-bytes',
    label: 'express 5, stored bytes',
    script: 'express.mjs',
    mode: 'bytes',
    paths: ['200', '304'],
  },
  {
    name: 'hono-bytes',
    label: 'hono + hono/etag, stored bytes',
    script: 'hono.mjs',
    mode: 'bytes',
    paths: ['200', '304'],
  },
  {
    name: 'fastify-compress',
    label: 'fastify + @fastify/compress, stored bytes',
    script: 'fastify.mjs',
    mode: 'compress',
    paths: ['gzip'],
  },
  {
    name: 'express-compress',
    label: 'express 5 + compression, stored bytes',
    script: 'express.mjs',
    mode: 'compress',
    paths: ['gzip'],
  },
  {
    name: 'hono-compress',
    label: 'hono + hono/compress, stored bytes',
    script: 'hono.mjs',
    mode: 'compress',
    paths: ['gzip'],
  },
];

export function urlPath(target, size) {
  return target.ifmatch ? `/api/bench/doc-${size}` : `/doc/${size}`;
}

function waitForLine(child, pattern, ms, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${what}: not ready after ${ms} ms\n${out}`)),
      ms,
    );
    child.stdout.on('data', (c) => {
      out += c;
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: exited ${code} before ready\n${out}`));
    });
  });
}

async function waitForHttp(url, ms, child, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${what}: exited ${child.exitCode}\n${child.log()}`);
    try {
      const r = await get(url);
      if (r.status < 500) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not ready after ${ms} ms (${last})\n${child.log()}`);
}

// The target's stderr (the request log) goes to a file, as a service's log
// goes to journald or a file: the server pays for its write(2)s, and the
// bench process (on the same cores as the load generator) does not read every
// line through a pipe, which would put a log consumer's cost into the figures.
// stdout (a peer's one "listening" line) stays a pipe.
let logFiles = 0;
function spawnLogged(args, nodeArgs = []) {
  const file = join(TMP_DIR, `target-${process.pid}-${logFiles++}.log`);
  mkdirSync(TMP_DIR, { recursive: true });
  const fd = openSync(file, 'w');
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', fd],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  closeSync(fd);
  let out = '';
  child.stdout.on('data', (c) => {
    out = (out + c).slice(-2000);
  });
  /** The last bytes the target wrote (for error messages). */
  child.log = () => out + tailOf(file);
  process.once('exit', () => rmSync(file, { force: true }));
  return child;
}

function tailOf(file) {
  try {
    const tail = openSync(file, 'r');
    try {
      const size = fstatSync(tail).size;
      const buf = Buffer.alloc(Math.min(size, 2000));
      readSync(tail, buf, 0, buf.length, size - buf.length);
      return buf.toString();
    } finally {
      closeSync(tail);
    }
  } catch {
    return '';
  }
}

/** PUTs one document; returns the ETag of the stored state. */
async function putDocument(base, path, body, extra = {}) {
  const res = await fetch(base + path, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...extra },
    body,
  });
  await res.arrayBuffer();
  if (res.status !== 200 && res.status !== 201 && res.status !== 204) {
    throw new Error(`PUT ${path}: ${res.status}`);
  }
  return res.headers.get('etag');
}

/**
 * Starts one target. Returns { target, port, base, child, stop(), info } or
 * throws with the reason it cannot run here (missing build, no PostgreSQL).
 */
export async function startTarget(target, port, docs, pg, nodeArgs = []) {
  if (!target.ifmatch) {
    const child = spawnLogged(
      [
        join(BENCH_DIR, 'targets', target.script),
        '--port',
        String(port),
        '--mode',
        target.mode ?? '',
      ],
      nodeArgs,
    );
    await waitForLine(child, /listening \d+/, 20000, target.name);
    return {
      target,
      port,
      base: `http://127.0.0.1:${port}`,
      child,
      stop: () => stopChild(child),
      info: {},
    };
  }
  if (!existsSync(IFMATCH_CLI))
    throw new Error(`not built (${IFMATCH_CLI} missing: run npm run build)`);
  let db;
  let cleanup = async () => {};
  if (target.ifmatch === 'sqlite') {
    db = join(TMP_DIR, `ifmatch-bench-${process.pid}.db`);
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    cleanup = async () => {
      for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    };
  } else {
    if (!pg) throw new Error('PostgreSQL not reachable at 127.0.0.1:5432');
    db = await pg.createDatabase();
    cleanup = () => pg.dropDatabase();
  }
  // Default options (what users run, request log included), plus the target's own.
  const serveArgs = [...(target.serveArgs ?? [])];
  if (target.auth) {
    const tokens = join(TMP_DIR, `ifmatch-bench-tokens-${process.pid}.json`);
    writeFileSync(
      tokens,
      JSON.stringify({
        tokens: [{ name: 'bench', token: BENCH_TOKEN, scopes: { '*': ['read', 'write'] } }],
      }),
    );
    serveArgs.push('--auth', tokens);
  }
  // Instances after the first listen on the next ports (run.mjs leaves them free).
  const children = Array.from({ length: target.instances ?? 1 }, (_, i) =>
    spawnLogged(
      [IFMATCH_CLI, 'serve', '--port', String(port + i), '--db', db, ...serveArgs],
      nodeArgs,
    ),
  );
  const child = children[0];
  const bases = children.map((_, i) => `http://127.0.0.1:${port + i}`);
  const base = bases[0];
  const stopAll = () => Promise.all(children.map(stopChild));
  try {
    for (const [i, c] of children.entries())
      await waitForHttp(`${bases[i]}/healthz`, 30000, c, target.name);
    const etags = {};
    for (const size of Object.keys(SIZES))
      etags[size] = await putDocument(
        base,
        urlPath(target, size),
        docs[size],
        target.requestHeaders,
      );
    return {
      target,
      port,
      base,
      bases,
      child,
      info: {
        db:
          target.ifmatch === 'sqlite' ? 'a temporary SQLite file' : db.replace(/\/\/[^@]*@/, '//'),
        etags,
      },
      stop: async () => {
        await stopAll();
        await cleanup();
      },
    };
  } catch (e) {
    await stopAll();
    await cleanup();
    throw e;
  }
}

export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Versions of the peers, for the report. */
export function versions() {
  const out = {};
  for (const name of [
    'fastify',
    '@fastify/etag',
    '@fastify/compress',
    'express',
    'compression',
    'hono',
    '@hono/node-server',
    'autocannon',
    'better-sqlite3',
    'pg',
  ]) {
    try {
      out[name] = JSON.parse(
        readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'),
      ).version;
    } catch {
      out[name] = 'not installed';
    }
  }
  return out;
}
