#!/usr/bin/env node
// Soak: mixed load against a real `ifmatch serve` process, then a verdict.
//
//   SOAK_SECONDS=60 npm run soak        (default 60 s; CI runs 5 s)
//   SOAK_CLIENTS=32                     concurrent connections
//   SOAK_DB=postgres://…                another store (default: a fresh SQLite file)
//
// Mix: 70% conditional GET (If-None-Match with the current ETag: must be 304),
// 20% plain GET (must be 200 with the known bytes), 10% conditional PUT
// (If-Match) on a few hot documents shared by all clients: 2xx or 412 only.
// Every 2xx write increments a counter from the state its If-Match named, so
// at the end each hot document's counter must equal the number of
// acknowledged writes to it: anything less is a lost update.
// Exits non-zero on any error, lost update or RSS that keeps growing.
//
// "Flat" RSS: the server fills bounded caches (the body cache, up to 64 MiB,
// and V8's heap growing to its working size) early in a run, so RSS rises and
// levels off; a leak keeps climbing. The check compares the second half of the
// run: from half-time to the end RSS may grow at most max(16 MiB, 10%).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 32);
const COLD_DOCS = 100; // read-only: their ETags never change, so a conditional GET must be 304
const HOT_DOCS = 4; // written with contention
const PAD = 'x'.repeat(1024); // a body worth not sending twice
const COLLECTION = 'soak';
// RSS may grow this much over the second half of the run.
const RSS_SLACK_BYTES = 16 * 1024 * 1024;
const RSS_SLACK_RATIO = 0.1;

if (!Number.isFinite(SECONDS) || SECONDS <= 0) throw new Error('SOAK_SECONDS must be > 0');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : Number.NaN;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
let base;

/** One request over a kept-alive connection: { status, headers, body, ms }. */
function request(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      `${base}${path}`,
      {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        agent,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout after 10 s')));
    req.end(body);
  });
}

/** V8 heap in use, from the server's own /metrics (prom-client default metrics). */
async function heapUsed() {
  try {
    const res = await request('GET', '/metrics');
    const m = /^nodejs_heap_size_used_bytes (\S+)/m.exec(res.body);
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const mb = (b) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'ifmatch-soak-'));
  const db = process.env.SOAK_DB ?? join(dir, 'soak.db');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const cli = join(root, 'packages/server/dist/cli/main.js');
  const server = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--db',
      db,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  server.stderr.on('data', (c) => {
    stderr += c;
  });
  let exited = null;
  server.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const violations = [];
  try {
    // Wait for readiness.
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited) throw new Error(`server exited early (${JSON.stringify(exited)}): ${stderr}`);
      try {
        if ((await request('GET', '/healthz')).status === 200) break;
      } catch {}
      if (Date.now() > deadline) throw new Error(`server not ready after 20 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // Seed: cold documents (read-only) and hot counters.
    const cold = [];
    for (let i = 0; i < COLD_DOCS; i++) {
      const body = JSON.stringify({ i, pad: PAD });
      const res = await request('PUT', `/api/${COLLECTION}/cold-${i}`, {}, body);
      if (res.status !== 201 && res.status !== 200)
        throw new Error(`seed PUT: ${res.status} ${res.body}`);
      cold.push({ path: `/api/${COLLECTION}/cold-${i}`, etag: res.headers.etag, body });
    }
    const hot = [];
    for (let i = 0; i < HOT_DOCS; i++) {
      const body = JSON.stringify({ n: 0, pad: PAD });
      const res = await request('PUT', `/api/${COLLECTION}/hot-${i}`, {}, body);
      if (res.status !== 201 && res.status !== 200)
        throw new Error(`seed PUT: ${res.status} ${res.body}`);
      hot.push({ path: `/api/${COLLECTION}/hot-${i}`, etag: res.headers.etag, n: 0, acked: 0 });
    }

    const counts = { total: 0, cond304: 0, plain200: 0, write2xx: 0, write412: 0, errors: 0 };
    const errorSamples = [];
    const latencies = [];
    const error = (what) => {
      counts.errors++;
      if (errorSamples.length < 10) errorSamples.push(what);
    };

    const rssSamples = [];
    const warmupMs = Math.min(5_000, SECONDS * 200); // 20% of the run, at most 5 s
    const started = Date.now();
    const end = started + SECONDS * 1000;
    let heapStart = Number.NaN;
    const heapTimer = setTimeout(async () => {
      heapStart = await heapUsed();
    }, warmupMs);
    const sampler = setInterval(() => {
      if (!exited && Date.now() - started >= warmupMs) rssSamples.push(rss(server.pid));
    }, 250);

    async function writeHot(doc) {
      const n = doc.n + 1;
      const res = await request(
        'PUT',
        doc.path,
        { 'if-match': doc.etag, prefer: 'return=representation' },
        JSON.stringify({ n, pad: PAD }),
      );
      if (res.status >= 200 && res.status < 300) {
        counts.write2xx++;
        doc.acked++;
        // Only move forward: another client may already know a newer state.
        if (n > doc.n) {
          doc.n = n;
          doc.etag = res.headers.etag;
        }
      } else if (res.status === 412) {
        counts.write412++;
        let current;
        try {
          current = JSON.parse(res.body);
        } catch {}
        if (typeof current?.n !== 'number' || !res.headers.etag) {
          const again = await request('GET', doc.path);
          current = JSON.parse(again.body);
          res.headers.etag = again.headers.etag;
        }
        if (current.n > doc.n) {
          doc.n = current.n;
          doc.etag = res.headers.etag;
        }
      } else {
        error(`PUT ${doc.path}: ${res.status} ${res.body.slice(0, 200)}`);
      }
      return res;
    }

    async function client() {
      while (Date.now() < end) {
        const roll = Math.random();
        try {
          let res;
          if (roll < 0.7) {
            const doc = cold[Math.floor(Math.random() * cold.length)];
            res = await request('GET', doc.path, { 'if-none-match': doc.etag });
            if (res.status === 304 && res.body === '') counts.cond304++;
            else error(`conditional GET ${doc.path}: ${res.status} (expected a bodiless 304)`);
          } else if (roll < 0.9) {
            const doc = cold[Math.floor(Math.random() * cold.length)];
            res = await request('GET', doc.path);
            if (res.status === 200 && res.body === doc.body && res.headers.etag === doc.etag) {
              counts.plain200++;
            } else error(`GET ${doc.path}: ${res.status} (expected 200 with the seeded bytes)`);
          } else {
            res = await writeHot(hot[Math.floor(Math.random() * hot.length)]);
          }
          counts.total++;
          latencies.push(res.ms);
        } catch (err) {
          counts.total++;
          error(`network: ${err.message}`);
        }
      }
    }

    await Promise.all(Array.from({ length: CLIENTS }, client));
    clearInterval(sampler);
    clearTimeout(heapTimer);
    const heapEnd = await heapUsed();
    const elapsed = (Date.now() - started) / 1000;

    // Lost updates: each hot counter must equal its acknowledged writes.
    let lost = 0;
    for (const doc of hot) {
      const res = await request('GET', doc.path);
      const { n } = JSON.parse(res.body);
      if (n !== doc.acked) {
        lost += Math.max(0, doc.acked - n);
        violations.push(`${doc.path}: counter ${n} but ${doc.acked} acknowledged writes`);
      }
    }

    latencies.sort((a, b) => a - b);
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rssStart = median(rssSamples.slice(0, 4));
    const rssEnd = median(rssSamples.slice(-4));
    const rssMax = Math.max(...rssSamples);
    const rssHalf = median(
      rssSamples.slice(
        Math.floor(rssSamples.length / 2) - 2,
        Math.floor(rssSamples.length / 2) + 2,
      ),
    );
    const secondHalfGrowth = rssEnd - rssHalf;

    const report = {
      seconds: Number(elapsed.toFixed(1)),
      clients: CLIENTS,
      store: process.env.SOAK_DB ? 'SOAK_DB' : 'sqlite',
      requests: counts.total,
      rps: Math.round(counts.total / elapsed),
      conditionalGet304: counts.cond304,
      plainGet200: counts.plain200,
      writes2xx: counts.write2xx,
      writes412: counts.write412,
      errors: counts.errors,
      p50ms: Number(percentile(latencies, 50).toFixed(2)),
      p99ms: Number(percentile(latencies, 99).toFixed(2)),
      maxMs: Number(latencies[latencies.length - 1].toFixed(1)),
      rssStart: mb(rssStart),
      rssHalfTime: mb(rssHalf),
      rssEnd: mb(rssEnd),
      rssMax: mb(rssMax),
      // Samples across the run after warm-up: a leak climbs steadily, a cache levels off.
      rssTrend: [0, 0.25, 0.5, 0.75, 1].map((q) =>
        mb(rssSamples[Math.min(rssSamples.length - 1, Math.floor(q * rssSamples.length))]),
      ),
      heapUsedStart: mb(heapStart),
      heapUsedEnd: mb(heapEnd),
      lostUpdates: lost,
    };
    console.log(JSON.stringify(report, null, 2));

    if (counts.errors > 0)
      violations.push(`${counts.errors} errors, e.g.:\n  ${errorSamples.join('\n  ')}`);
    if (counts.write2xx === 0) violations.push('no write succeeded');
    if (counts.write412 === 0 && SECONDS >= 5) violations.push('no contention: not one 412');
    if (!(secondHalfGrowth <= Math.max(RSS_SLACK_BYTES, rssHalf * RSS_SLACK_RATIO))) {
      violations.push(
        `RSS still growing: ${mb(rssStart)} after warm-up, ${mb(rssHalf)} at half-time, ${mb(rssEnd)} at the end`,
      );
    }
  } finally {
    if (!exited) {
      server.kill('SIGTERM');
      const stopped = await Promise.race([
        new Promise((r) => server.once('exit', () => r(true))),
        new Promise((r) => setTimeout(() => r(false), 10_000)),
      ]);
      if (!stopped) {
        server.kill('SIGKILL');
        violations.push('server did not stop within 10 s of SIGTERM');
      } else if (exited && exited.code !== 0) {
        violations.push(
          `server exited with ${JSON.stringify(exited)} on SIGTERM: ${stderr.slice(-500)}`,
        );
      }
    }
    agent.destroy();
    await rm(dir, { recursive: true, force: true });
  }

  if (violations.length > 0) {
    console.error(`soak FAILED:\n- ${violations.join('\n- ')}`);
    process.exit(1);
  }
  console.log('soak passed: 0 errors, 0 lost updates, RSS flat');
}

main().catch((err) => {
  console.error(`soak FAILED: ${err.stack ?? err}`);
  process.exit(1);
});
