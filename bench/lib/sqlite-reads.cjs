// Preloaded into an `ifmatch serve` on SQLite by the live benchmark
// (`node --require bench/lib/sqlite-reads.cjs …`): counts the store's
// statements by SQL text, because the SQLite store, unlike the PostgreSQL one,
// exports no statement counts on /metrics. While they change it writes them,
// every 25 ms at most, to $IFMATCH_BENCH_READS_FILE-<port>.json (the port
// from the command line: the bench knows ports, not pids), as
// { counts: { sql: n } }. Instrumentation of a benchmark target only: it wraps
// better-sqlite3's Statement methods, nothing else.
const { writeFileSync } = require('node:fs');
const Database = require('better-sqlite3');

const counts = new Map();
let dirty = false;
const probe = new Database(':memory:');
const proto = Object.getPrototypeOf(probe.prepare('SELECT 1'));
probe.close();
for (const method of ['get', 'all', 'iterate', 'run']) {
  const original = proto[method];
  proto[method] = function counted(...args) {
    counts.set(this.source, (counts.get(this.source) ?? 0) + 1);
    dirty = true;
    return original.apply(this, args);
  };
}

const prefix = process.env.IFMATCH_BENCH_READS_FILE;
const port = process.argv[process.argv.indexOf('--port') + 1];
if (prefix && port) {
  const file = `${prefix}-${port}.json`;
  setInterval(() => {
    if (!dirty) return;
    dirty = false;
    writeFileSync(file, JSON.stringify({ counts: Object.fromEntries(counts) }));
  }, 25).unref();
}
