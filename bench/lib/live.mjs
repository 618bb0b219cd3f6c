// The live-changes benchmarks (issue 15): conditional long-polls
// (If-None-Match + Prefer: wait) against real `ifmatch serve` processes.
//
// 1. Wake-up latency across instances: two processes on one PostgreSQL
//    database, and two on one SQLite file. A waiter's GET is in flight on one
//    instance; a PUT goes to instance A; latency = the waiter's 200 received
//    minus the PUT's acknowledgement received (and minus the PUT sent). The
//    waiter is on B (the goal: another instance) or on A (for comparison).
// 2. 10,000 waiting requests on one default `ifmatch serve` (SQLite): the
//    server's RSS before and while they wait, and the 304 throughput of other
//    clients (the load generator on another document) with them, against an
//    identical instance without them, loaded in turns.
// 3. One write to a document watched by 1,000 waiters on instance B (written
//    through A): every waiter answered, and how many times B's store read the
//    body (PostgreSQL: /metrics ifmatch_store_queries_total{op="read"}; SQLite:
//    statements counted by a preload, sqlite-reads.cjs, since the SQLite store
//    exports no statement counts).
//
// Waiters are raw sockets in this process (one HTTP/1.1 request in flight
// each, keep-alive), so 10,000 of them cost the bench little.
import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { TMP_DIR } from './documents.mjs';
import { load } from './load.mjs';
import { startTarget } from './targets.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const COUNTER = join(import.meta.dirname, 'sqlite-reads.cjs');
const READS_PREFIX = join(TMP_DIR, `sqlite-reads-${process.pid}`);
/** The statement that reads a document's body in the SQLite store. */
const isBodyRead = (sql) => /^\s*SELECT\b[^;]*\bbody\b[^;]*\bFROM\s+documents\b/i.test(sql);
/** The preload's dump files (one per instance started with it), removed at the end. */
const DUMPS = new Set();
const isValidators = (sql) =>
  /^\s*SELECT\b[^;]*\bFROM\s+documents\b/i.test(sql) && !isBodyRead(sql);

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.at(-1) ?? Number.NaN,
    // In arrival order, for a closer look (bench/.tmp/results.json).
    samples: values.map((x) => Math.round(x * 100) / 100),
  };
}

/**
 * One keep-alive HTTP/1.1 connection with at most one request in flight.
 * Responses are parsed as far as the bench needs (status, headers,
 * Content-Length bodies); `at` is when the last byte arrived.
 */
class RawConn {
  static open(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const socket = connect(port, host);
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConn(socket, `${host}:${port}`));
      });
      socket.once('error', reject);
    });
  }

  constructor(socket, hostHeader) {
    this.socket = socket;
    this.host = hostHeader;
    this.buf = Buffer.alloc(0);
    this.pending = undefined;
    socket.on('data', (c) => this.#data(c));
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  /** Sends one request; resolves with { status, headers, body, at }. */
  request(method, path, headers = {}, body = '') {
    if (this.pending) throw new Error('one request at a time');
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${this.host}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (body !== '' || method === 'PUT') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    const promise = new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    return promise;
  }

  close() {
    this.socket.destroy();
  }

  #fail(error) {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(error);
  }

  #data(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(head[0].split(' ')[1]);
      const headers = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const length =
        status === 304 || status === 204 ? 0 : Number(headers['content-length'] ?? Number.NaN);
      if (!Number.isFinite(length)) {
        this.#fail(new Error(`response without Content-Length (status ${status})`));
        this.socket.destroy();
        return;
      }
      if (this.buf.length < end + 4 + length) return;
      const body = this.buf.subarray(end + 4, end + 4 + length).toString();
      this.buf = this.buf.subarray(end + 4 + length);
      const p = this.pending;
      this.pending = undefined;
      p?.resolve({ status, headers, body, at: now() });
    }
  }
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** PUT over a fresh fetch; returns the new ETag. */
async function putDoc(base, path, value) {
  const res = await fetch(base + path, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  });
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`PUT ${path}: ${res.status}`);
  return res.headers.get('etag');
}

/** VmRSS of a process, in bytes (Linux). */
export function rssOf(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** The soft limit on open files of this process (children inherit it). */
function openFilesLimit() {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m?.[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m?.[1]);
  } catch {
    return Number.NaN;
  }
}

/** Store statements of one instance: { read, validators } so far. */
async function storeReads(r, index) {
  if (r.target.ifmatch === 'postgres') {
    const text = await fetch(`${r.bases[index]}/metrics`).then((res) => res.text());
    const get = (op) =>
      Number(
        new RegExp(`^ifmatch_store_queries_total\\{op="${op}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
      );
    return { read: get('read'), validators: get('validators') };
  }
  // SQLite: the preload's counts (written within 25 ms of a change).
  await sleep(150);
  const file = `${READS_PREFIX}-${new URL(r.bases[index]).port}.json`;
  DUMPS.add(file);
  const dump = readDump(file);
  if (!dump) throw new Error(`no statement counts in ${file}`);
  let read = 0;
  let validators = 0;
  for (const [sql, n] of Object.entries(dump.counts)) {
    if (isBodyRead(sql)) read += n;
    else if (isValidators(sql)) validators += n;
  }
  return { read, validators };
}

function readDump(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Opens `n` waiters on `port`, each a GET of `path` with If-None-Match `etag`
 * and Prefer: wait=`wait`, in batches (the listen backlog is finite). A waiter
 * answered 304 (its wait ran out) asks again at once, as a real long-poll
 * client does. Returns the waiters and their tallies.
 */
async function openWaiters(port, n, path, etag, wait, batch = 250) {
  const tally = { early: 0, timeouts: 0, errors: 0, answered: [] };
  const waiters = [];
  let released = false;
  const ask = (w) => {
    w.conn
      .request('GET', path, { 'If-None-Match': etag, Prefer: `wait=${wait}` })
      .then((res) => {
        if (res.status === 304) {
          tally.timeouts++;
          if (!released) ask(w);
          return;
        }
        if (!released) tally.early++;
        tally.answered.push(res);
      })
      .catch(() => {
        if (!w.closed) tally.errors++;
      });
  };
  for (let i = 0; i < n; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, () =>
        RawConn.open(port).then(
          (conn) => ({ conn, closed: false }),
          () => {
            tally.errors++;
            return undefined;
          },
        ),
      ),
    );
    for (const w of opened) {
      if (!w) continue;
      waiters.push(w);
      ask(w);
    }
  }
  return {
    waiters,
    tally,
    /** From now on an answer is the wake-up, not an early answer. */
    release() {
      released = true;
    },
    close() {
      for (const w of waiters) {
        w.closed = true;
        w.conn.close();
      }
    },
  };
}

async function until(predicate, ms) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Wake-up latency on a pair of instances: samples alternate between a waiter on B and on A. */
async function latency(r, samples) {
  const path = '/api/live/latency';
  const [portA, portB] = r.bases.map((b) => Number(new URL(b).port));
  let etag = await putDoc(r.bases[0], path, { n: -1 });
  const writer = await RawConn.open(portA);
  const onB = await RawConn.open(portB);
  const onA = await RawConn.open(portA);
  const result = {
    other: { ack: [], sent: [] },
    same: { ack: [], sent: [] },
    errors: [],
    notHeld: 0,
  };
  try {
    for (let i = 0; i < samples; i++) {
      const where = i % 2 === 0 ? 'other' : 'same';
      const conn = where === 'other' ? onB : onA;
      const waiting = conn.request('GET', path, { 'If-None-Match': etag, Prefer: 'wait=10' });
      // The waiter's request is in flight and held (an idle server takes well under 1 ms).
      await sleep(40);
      const sent = now();
      const put = await writer.request(
        'PUT',
        path,
        { ...JSON_HEADERS, 'If-Match': etag },
        JSON.stringify({ n: i }),
      );
      const woke = await waiting;
      if (put.status !== 200) {
        result.errors.push(`PUT ${put.status}`);
        break;
      }
      etag = put.headers.etag;
      if (woke.status !== 200 || woke.headers.etag !== etag) {
        result.errors.push(`waiter on ${where}: ${woke.status} ${woke.headers.etag ?? ''}`);
        continue;
      }
      // Answered without waiting (the write landed before the GET was decided): not a wake-up.
      if (woke.headers['preference-applied'] === undefined) {
        result.notHeld++;
        continue;
      }
      result[where].ack.push(woke.at - put.at);
      result[where].sent.push(woke.at - sent);
    }
  } finally {
    for (const c of [writer, onB, onA]) c.close();
  }
  return {
    other: { ack: stats(result.other.ack), sent: stats(result.other.sent) },
    same: { ack: stats(result.same.ack), sent: stats(result.same.sent) },
    errors: result.errors,
    notHeld: result.notHeld,
  };
}

/** One write through A to a document 1,000 waiters on B hold. */
async function fanout(r, n) {
  const path = '/api/live/fanout';
  const portB = Number(new URL(r.bases[1]).port);
  const etag = await putDoc(r.bases[0], path, { v: 0 });
  const w = await openWaiters(portB, n, path, etag, 30);
  try {
    await sleep(1500); // all held (none may answer before the write)
    const before = await storeReads(r, 1);
    w.release();
    const sent = now();
    const next = await putDoc(r.bases[0], path, { v: 1 });
    const acked = now();
    const all = await until(() => w.tally.answered.length >= w.waiters.length, 30_000);
    // Late duplicates of the read would show here: let the counters settle.
    await sleep(200);
    const after = await storeReads(r, 1);
    const ok = w.tally.answered.filter((res) => res.status === 200 && res.headers.etag === next);
    return {
      waiters: w.waiters.length,
      answered: w.tally.answered.length,
      ok: ok.length,
      early: w.tally.early,
      errors: w.tally.errors,
      all,
      reads: after.read - before.read,
      validators: after.validators - before.validators,
      lastAfterAck: Math.max(...ok.map((res) => res.at)) - acked,
      lastAfterSent: Math.max(...ok.map((res) => res.at)) - sent,
    };
  } finally {
    w.close();
  }
}

/**
 * 10,000 waiters on one default instance X: its RSS, and the 304 throughput of
 * other clients. "Without" is an identical idle instance Y (same options, same
 * file), loaded in turns with X (order alternating), so machine drift hits
 * both alike; ratio = median of the per-pair ratios X / Y. One pair before the
 * waiters open is the control (X and Y alike: ~1.0x).
 */
async function manyWaiters(r, n, opts) {
  // Every pair must end within the waiters' 60 s (the server's default
  // --max-wait), counted from the first waiter opened (opening 10,000 takes
  // ~15 s here): 5 pairs of runs of at most 3 s; a quick run does one pair.
  const runSeconds = Math.min(opts.seconds, 3);
  const pairCount = opts.quick ? 1 : 5;
  const pid = r.child.pid;
  const heldPath = '/api/live/held';
  const etag = await putDoc(r.base, heldPath, { held: true });
  const port = Number(new URL(r.bases[0]).port);
  const loadOn = (base) =>
    load(opts.tool, {
      url: `${base}/api/bench/doc-1k`,
      headers: { 'If-None-Match': r.info.etags['1k'] },
      seconds: runSeconds,
      connections: opts.connections,
      threads: opts.threads,
    });
  const [x, y] = r.bases;
  for (const base of r.bases)
    await load(opts.tool, {
      url: `${base}/api/bench/doc-1k`,
      headers: { 'If-None-Match': r.info.etags['1k'] },
      seconds: opts.warmup,
      connections: opts.connections,
      threads: opts.threads,
    });
  /** One run on each, in the given order: { x, y } req/s. */
  const pair = async (xFirst) => {
    const out = {};
    for (const [k, base] of xFirst
      ? [
          ['x', x],
          ['y', y],
        ]
      : [
          ['y', y],
          ['x', x],
        ])
      out[k] = await loadOn(base);
    return out;
  };
  // Two control pairs (both orders) before the waiters open.
  const controls = [await pair(true), await pair(false)];
  await sleep(500);
  const rssBefore = rssOf(pid);
  const opened = now();
  const w = await openWaiters(port, n, heldPath, etag, 60);
  const openMs = now() - opened;
  const pairs = [];
  let result;
  try {
    await sleep(2000);
    const rssWaiting = rssOf(pid);
    const early = w.tally.early;
    for (let i = 0; i < pairCount; i++) pairs.push(await pair(i % 2 === 1));
    const rssAfterLoad = rssOf(pid);
    // Release them all with one write: proves they were all held.
    w.release();
    const next = await putDoc(r.base, heldPath, { held: false });
    const acked = now();
    await until(() => w.tally.answered.length >= w.waiters.length, 60_000);
    const ok = w.tally.answered.filter((res) => res.status === 200 && res.headers.etag === next);
    result = {
      waiters: w.waiters.length,
      openMs,
      early,
      timeouts: w.tally.timeouts,
      errors: w.tally.errors,
      woken: ok.length,
      lastAfterAck: ok.length ? Math.max(...ok.map((res) => res.at)) - acked : Number.NaN,
      rssBefore,
      rssWaiting,
      rssAfterLoad,
    };
  } finally {
    w.close();
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  return {
    ...result,
    rssGrowth: Math.max(result.rssWaiting, result.rssAfterLoad) - result.rssBefore,
    control: { ratio: median(controls.map((p) => p.x.rps / p.y.rps)) },
    runSeconds,
    with: pairs.map((p) => p.x.rps),
    without: pairs.map((p) => p.y.rps),
    rpsWith: median(pairs.map((p) => p.x.rps)),
    rpsWithout: median(pairs.map((p) => p.y.rps)),
    ratio: median(pairs.map((p) => p.x.rps / p.y.rps)),
    bad: [...controls, ...pairs].reduce(
      (a, p) => a + p.x.bad + p.x.errors + p.y.bad + p.y.errors,
      0,
    ),
  };
}

/**
 * The whole live section. opts: { pg, port (first free port), quick, tool,
 * seconds, warmup, reps, connections, threads, samples, waiters, fanout, running
 * (the runner's list of started targets, for its Ctrl-C), log }.
 */
export async function runLive(opts) {
  const { log } = opts;
  const out = {
    loadStart: os.loadavg(),
    openFilesLimit: openFilesLimit(),
    pairs: [],
    many: undefined,
    skipped: [],
  };
  let port = opts.port;
  const docs = opts.docs;
  const pairs = [
    {
      name: 'live-postgres-x2',
      label: 'PostgreSQL, 2 instances',
      ifmatch: 'postgres',
      instances: 2,
    },
    { name: 'live-sqlite-x2', label: 'SQLite, 2 processes', ifmatch: 'sqlite', instances: 2 },
  ];
  for (const target of pairs) {
    let r;
    try {
      process.env.IFMATCH_BENCH_READS_FILE = READS_PREFIX;
      r = await startTarget(target, port, docs, opts.pg, ['--require', COUNTER]);
      opts.running?.push(r);
      for (const base of r.bases) DUMPS.add(`${READS_PREFIX}-${new URL(base).port}.json`);
      port += 2;
    } catch (e) {
      out.skipped.push({
        name: target.name,
        label: target.label,
        reason: e.message.split('\n')[0],
      });
      log(`live: skipped ${target.name}: ${e.message.split('\n')[0]}`);
      continue;
    }
    try {
      const entry = { name: target.name, label: target.label, load: os.loadavg() };
      entry.latency = await latency(r, opts.samples);
      log(
        `live ${target.name}: wake-up on the other instance p50 ${entry.latency.other.ack.p50.toFixed(1)} ms, p99 ${entry.latency.other.ack.p99.toFixed(1)} ms (same instance p50 ${entry.latency.same.ack.p50.toFixed(1)}, p99 ${entry.latency.same.ack.p99.toFixed(1)})`,
      );
      entry.fanout = await fanout(r, opts.fanout);
      log(
        `live ${target.name}: ${entry.fanout.ok}/${entry.fanout.waiters} waiters woken by one write, ${entry.fanout.reads} body reads, ${entry.fanout.validators} validator reads`,
      );
      out.pairs.push(entry);
    } catch (e) {
      out.skipped.push({ name: target.name, label: target.label, reason: e.message });
      log(`live ${target.name} failed: ${e.stack}`);
    } finally {
      await r.stop();
    }
  }
  delete process.env.IFMATCH_BENCH_READS_FILE;

  const need = opts.waiters + 200;
  let n = opts.waiters;
  if (out.openFilesLimit < need) {
    n = Math.max(0, out.openFilesLimit - 200);
    log(
      `live: open files limited to ${out.openFilesLimit}: ${n} waiters instead of ${opts.waiters}`,
    );
  }
  // X holds the waiters, Y (same options, same file) is the "without" of each pair.
  const single = {
    name: 'live-sqlite',
    label: 'SQLite, default options (X with waiters, Y without)',
    ifmatch: 'sqlite',
    instances: 2,
  };
  let r;
  try {
    r = await startTarget(single, port, docs, opts.pg);
    opts.running?.push(r);
  } catch (e) {
    out.skipped.push({ name: single.name, label: single.label, reason: e.message.split('\n')[0] });
  }
  if (r) {
    try {
      out.many = {
        requested: opts.waiters,
        load: os.loadavg(),
        ...(await manyWaiters(r, n, opts)),
      };
      const m = out.many;
      log(
        `live: ${m.waiters} waiters: RSS +${(m.rssGrowth / 2 ** 20).toFixed(1)} MB, 304 req/s ${Math.round(m.rpsWith)} with / ${Math.round(m.rpsWithout)} without = ${m.ratio.toFixed(2)}x; ${m.woken} woken by one write`,
      );
    } catch (e) {
      out.skipped.push({ name: single.name, label: single.label, reason: e.message });
      log(`live many waiters failed: ${e.stack}`);
    } finally {
      await r.stop();
    }
  }
  for (const file of DUMPS) rmSync(file, { force: true });
  out.loadEnd = os.loadavg();
  return out;
}
