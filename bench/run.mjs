// `npm run bench [-- options]`: side-by-side HTTP benchmarks of ifmatch and its
// peers. Every target runs in its own process; within each repetition all
// targets take turns on the same section, so machine drift hits all alike;
// ratios are taken against the raw reference of the same repetition.
//
// Options (env in brackets):
//   --quick              smoke run: 1 repetition of 1 s, 1 s warm-up, short contention
//   --reps N             repetitions (3) [BENCH_REPS]
//   --duration S         seconds per load run (5) [BENCH_DURATION]
//   --warmup S           seconds of warm-up per target and section (2) [BENCH_WARMUP]
//   --connections N      (32)   --threads N (2)
//   --targets a,b        only these targets (raw is always included)
//   --sizes 1k,100k,1m   --paths 200,304,gzip
//   --no-contention      skip the contended-writes benchmark
//   --no-live            skip the live-changes benchmarks (long-poll wake-ups, many waiters)
//   --live-only          only the live-changes benchmarks (report: bench/.tmp/RESULTS-live.md)
//   --live-samples N     wake-up latency samples per backend (400; --quick 60)
//   --live-waiters N     concurrent waiting requests on one instance (10000)
//   --live-fanout N      waiters on one document woken by one write (1000)
//   --backoff-base MS    contention: the client's backoff base (default: the client's own)
//   --port-base P        first port (18700)
//   --out FILE           report path (bench/RESULTS.md; --quick: bench/.tmp/RESULTS-quick.md,
//                        so a smoke run never replaces the full run's report; --live-only:
//                        bench/.tmp/RESULTS-live.md)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runClientBench } from './lib/client-bench.mjs';
import { runContention } from './lib/contention.mjs';
import { BENCH_DIR, loadDocuments, SIZES, TMP_DIR, writeDocuments } from './lib/documents.mjs';
import { runLive } from './lib/live.mjs';
import { findWrk, load } from './lib/load.mjs';
import { machine } from './lib/machine.mjs';
import { postgres } from './lib/postgres.mjs';
import { verify, wire304 } from './lib/probe.mjs';
import { writeReport } from './lib/report.mjs';
import { startTarget, TARGETS, urlPath, versions } from './lib/targets.mjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    targets: { type: 'string' },
    sizes: { type: 'string' },
    paths: { type: 'string' },
    'no-contention': { type: 'boolean', default: false },
    'no-live': { type: 'boolean', default: false },
    'live-only': { type: 'boolean', default: false },
    'live-samples': { type: 'string' },
    'live-waiters': { type: 'string', default: '10000' },
    'live-fanout': { type: 'string', default: '1000' },
    'backoff-base': { type: 'string' },
    'port-base': { type: 'string', default: '18700' },
    out: { type: 'string' },
  },
});

args.out ??= args['live-only']
  ? join(TMP_DIR, 'RESULTS-live.md')
  : args.quick
    ? join(TMP_DIR, 'RESULTS-quick.md')
    : join(BENCH_DIR, 'RESULTS.md');
const num = (flag, env, quick, full) =>
  Number(flag ?? process.env[env] ?? (args.quick ? quick : full));
const config = {
  quick: args.quick,
  reps: num(args.reps, 'BENCH_REPS', 1, 3),
  seconds: num(args.duration, 'BENCH_DURATION', 1, 5),
  warmup: num(args.warmup, 'BENCH_WARMUP', 1, 2),
  connections: Number(args.connections),
  threads: Number(args.threads),
  sizes: args.sizes ? args.sizes.split(',') : Object.keys(SIZES),
  paths: args.paths ? args.paths.split(',') : ['200', '304', 'gzip'],
  contention: !args['no-contention'] && !args['live-only'],
  live: args['live-only'] || !args['no-live'],
  liveOnly: args['live-only'],
  liveSamples: num(args['live-samples'], 'BENCH_LIVE_SAMPLES', 60, 400),
  liveWaiters: Number(args['live-waiters']),
  liveFanout: Number(args['live-fanout']),
  contentionSeconds: args.quick ? 2 : 5,
  backoff: args['backoff-base'] ? { base: Number(args['backoff-base']) } : undefined,
  tool: findWrk() ? 'wrk' : 'autocannon',
};

// The sections: every size on the 200 and 304 paths, gzip 200 for the largest.
const sections = [];
for (const size of config.liveOnly ? [] : config.sizes) {
  for (const path of ['200', '304']) if (config.paths.includes(path)) sections.push({ size, path });
}
if (!config.liveOnly && config.paths.includes('gzip') && config.sizes.includes('1m'))
  sections.push({ size: '1m', path: 'gzip' });

const log = (...m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...m);
const running = [];
let stopping = false;
async function stopAll() {
  if (stopping) return;
  stopping = true;
  await Promise.all(running.map((r) => r.stop().catch(() => {})));
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopAll().finally(() => process.exit(130));
  });
}

async function main() {
  writeDocuments();
  const docs = loadDocuments();
  const wanted = args.targets ? new Set(['raw', ...args.targets.split(',')]) : undefined;
  const targets = config.liveOnly ? [] : TARGETS.filter((t) => !wanted || wanted.has(t.name));
  const results = {
    config,
    machine: { ...machine(), versions: versions() },
    documents: Object.fromEntries(Object.entries(docs).map(([k, v]) => [k, v.length])),
    targets: [],
    skipped: [],
    sections: sections.map((s) => ({ ...s, entries: {}, excluded: {} })),
    wire: {},
    contention: [],
    client: undefined,
    live: undefined,
  };
  log(
    `load generator: ${config.tool}; ${config.reps} x ${config.seconds} s, warm-up ${config.warmup} s`,
  );

  const pg = await postgres();
  let port = Number(args['port-base']);
  for (const target of targets) {
    try {
      const r = await startTarget(target, port, docs, pg);
      port += target.instances ?? 1;
      running.push(r);
      results.targets.push({ name: target.name, label: target.label, port: r.port, ...r.info });
      log(`started ${target.name} on ${r.port}`);
    } catch (e) {
      results.skipped.push({
        name: target.name,
        label: target.label,
        reason: e.message.split('\n')[0],
      });
      log(`skipped ${target.name}: ${e.message}`);
    }
  }
  if (!config.liveOnly && !running.some((r) => r.target.name === 'raw'))
    throw new Error('the raw reference did not start');

  // Verify every (section, target) pair, and keep the ETag for the 304 path.
  const plan = [];
  for (const section of results.sections) {
    for (const r of running) {
      if (!r.target.paths.includes(section.path)) continue;
      const url = r.base + urlPath(r.target, section.size);
      try {
        const extra = r.target.requestHeaders ?? {};
        const etag = await verify(url, docs[section.size], section.path, extra);
        const headers = { ...extra };
        if (section.path === '304') headers['If-None-Match'] = etag;
        if (section.path === 'gzip') headers['Accept-Encoding'] = 'gzip';
        const urls = (r.bases ?? [r.base]).map((b) => b + urlPath(r.target, section.size));
        plan.push({ section, r, url, urls, headers });
        section.entries[r.target.name] = { reps: [] };
        if (section.path === '304') {
          const w = await wire304(
            '127.0.0.1',
            r.port,
            urlPath(r.target, section.size),
            etag,
            extra,
          );
          results.wire[r.target.name] ??= {};
          results.wire[r.target.name][section.size] = w;
        }
      } catch (e) {
        section.excluded[r.target.name] = e.message;
        log(`excluded ${r.target.name} from ${section.size}/${section.path}: ${e.message}`);
      }
    }
  }

  const opts = (p, seconds) => ({
    url: p.url,
    headers: p.headers,
    seconds,
    connections: config.connections,
    threads: config.threads,
  });
  // Several instances: the connections split evenly between them (round-robin by
  // connection), one load process each, run at once; their counts add up.
  const loadAll = async (p, seconds) => {
    if (p.urls.length === 1) return load(config.tool, opts(p, seconds));
    const per = Math.max(1, Math.round(config.connections / p.urls.length));
    const parts = await Promise.all(
      p.urls.map((url) =>
        load(config.tool, { ...opts(p, seconds), url, connections: per, threads: 1 }),
      ),
    );
    const sum = (k) => parts.reduce((a, m) => a + m[k], 0);
    return {
      rps: sum('rps'),
      total: sum('total'),
      bad: sum('bad'),
      errors: sum('errors'),
      p50: Math.max(...parts.map((m) => m.p50)),
      p99: Math.max(...parts.map((m) => m.p99)),
    };
  };
  // Statements the PostgreSQL store sent per request of a run, from /metrics
  // (ifmatch_store_queries_total): the database round trips a request cost.
  const storeQueries = async (r) => {
    let n = 0;
    for (const base of r.bases ?? [r.base]) {
      const text = await fetch(`${base}/metrics`).then((res) => res.text());
      for (const m of text.matchAll(
        /^ifmatch_store_queries_total\{op="(validators|read)"\} (\d+)/gm,
      ))
        n += Number(m[2]);
    }
    return n;
  };
  const measure = async (p, seconds) => {
    if (p.r.target.ifmatch !== 'postgres') return loadAll(p, seconds);
    const before = await storeQueries(p.r);
    const m = await loadAll(p, seconds);
    const queries = (await storeQueries(p.r)) - before;
    return { ...m, queries, queriesPerRequest: queries / m.total };
  };
  log(`warm-up: ${plan.length} runs`);
  for (const p of plan) await loadAll(p, config.warmup);

  for (let rep = 0; rep < config.reps; rep++) {
    for (const section of results.sections) {
      const turn = plan.filter((p) => p.section === section);
      // Rotate the order each repetition so no target always runs first or last.
      const order = turn.map((_, i) => turn[(i + rep) % turn.length]);
      for (const p of order) {
        const m = await measure(p, config.seconds);
        section.entries[p.r.target.name].reps[rep] = m;
        log(
          `rep ${rep + 1}/${config.reps} ${section.size}/${section.path} ${p.r.target.name}: ${Math.round(m.rps)} req/s${m.queriesPerRequest === undefined ? '' : `, ${m.queriesPerRequest.toFixed(3)} queries/request`}`,
        );
      }
    }
    writeFileSync(join(TMP_DIR, 'results.json'), JSON.stringify(results, null, 2));
  }

  if (config.contention) {
    // Repeated like the load runs, writer counts taking turns; the report takes medians.
    for (let rep = 0; rep < config.reps; rep++) {
      for (const r of running.filter((x) => x.target.ifmatch && !x.target.instances)) {
        for (const writers of [1, 4, 16]) {
          try {
            const c = await runContention(
              r.base,
              writers,
              config.contentionSeconds,
              config.backoff,
              r.target.requestHeaders,
            );
            results.contention.push({ target: r.target.name, writers, rep, ...c });
            log(
              `rep ${rep + 1}/${config.reps} contention ${r.target.name} x${writers}: ${Math.round(c.commitsPerSecond)} commits/s, ${c.conflicts} 412s, lost ${c.lost}`,
            );
          } catch (e) {
            results.contention.push({ target: r.target.name, writers, rep, error: e.message });
            log(`contention ${r.target.name} x${writers} failed: ${e.message}`);
          }
        }
      }
    }
    const sqlite = running.find((x) => x.target.name === 'ifmatch-sqlite');
    if (sqlite) {
      try {
        results.client = await runClientBench(sqlite.base, config.quick ? 200 : 2000);
      } catch (e) {
        results.client = { error: e.message };
      }
    }
  }

  if (config.live) {
    // Alone on the machine: the other targets stop first (idle, but they hold
    // ports, a SQLite file and databases the live targets would share).
    await Promise.all(running.splice(0).map((r) => r.stop().catch(() => {})));
    log(
      `live: ${config.liveSamples} wake-up samples per backend, ${config.liveWaiters} waiters, ${config.liveFanout} on one document`,
    );
    results.live = await runLive({
      pg,
      docs,
      port,
      quick: config.quick,
      tool: config.tool,
      seconds: config.seconds,
      warmup: config.warmup,
      reps: config.reps,
      connections: config.connections,
      threads: config.threads,
      samples: config.liveSamples,
      waiters: config.liveWaiters,
      fanout: config.liveFanout,
      running,
      log,
    });
  }

  results.machine.loadEnd = (await import('node:os')).loadavg();
  writeFileSync(join(TMP_DIR, 'results.json'), JSON.stringify(results, null, 2));
  writeReport(args.out, results);
  log(`wrote ${args.out}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(stopAll);
